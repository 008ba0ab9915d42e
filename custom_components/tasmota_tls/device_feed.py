"""From discovery to everything that follows a device: guard, operations, entities.

The tracker reports a device seen the first time and every change of one; this routes
each report to the address guard (repairs), the operations (resume, automatic
enrolment), the revocation check and the read model's push for that one MAC.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .address_guard import AddressGuard
from .const import SIGNAL_NEW_DEVICE
from .device_links import DeviceLinkFollower
from .device_state import DeviceState
from .journal import EnrolmentJournal
from .operations import OperationRunner
from .read_model import DeviceReadModel
from .tracker import DeviceTracker


class DeviceFeed:
    """Follows discovery for one entry until it unloads."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        tracker: DeviceTracker,
        journal: EnrolmentJournal,
        guard: AddressGuard,
        view: DeviceReadModel,
        operations: OperationRunner,
    ) -> None:
        """Nothing is subscribed until async_start."""
        self._hass = hass
        self._entry = entry
        self._tracker = tracker
        self._journal = journal
        self._guard = guard
        self._view = view
        self._operations = operations

    async def async_start(self) -> None:
        """Resume what a restart interrupted, then follow discovery."""
        self._operations.async_start()
        await self._guard.async_load()
        DeviceLinkFollower(self._hass, self._entry, self._tracker.devices).async_start()
        await self._tracker.async_start()

    @callback
    def async_stop(self) -> None:
        """Unsubscribe; running operations are cancelled with the entry's tasks."""
        self._tracker.async_stop()
        self._view.async_stop()

    @callback
    def async_device_added(self, state: DeviceState) -> None:
        """A device seen the first time: its entities, its repairs, its operation."""
        mac = state.device.mac
        async_dispatcher_send(self._hass, SIGNAL_NEW_DEVICE.format(self._entry.entry_id), mac)
        self._guard.check(state)
        self._operations.async_device_added(mac)

    @callback
    def async_device_changed(self, state: DeviceState) -> None:
        """Any update of a device: repairs, then that device's entities."""
        mac = state.device.mac
        self._guard.check(state)
        self._operations.revocations.async_check_revoked(mac)
        self._view.async_notify(mac)

    async def async_confirm_address(self, mac: str) -> None:
        """The user says the device really moved: pin the address it announces now."""
        if await self._guard.async_confirm(mac):
            self._view.async_notify(mac)

    async def async_forget(self, mac: str) -> None:
        """Drop a device the user removed (its certificates stay in the CA's index)."""
        self._tracker.async_forget(mac)
        await self._journal.async_forget(mac)
        await self._guard.async_forget(mac)
        self._view.async_notify()
