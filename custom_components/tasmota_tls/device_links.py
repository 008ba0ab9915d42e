"""Which device a Tasmota device's entities of ours belong to.

Since Home Assistant 2026.8 a device belongs to exactly one config entry. Our
entities therefore join the device that Home Assistant's Tasmota integration
registered for the same MAC by *linking* to it (``Entity.device_entry``), as helper
integrations do; our config entry is never added to that device. Where no Tasmota
device exists (the Tasmota integration is not set up, or the user deleted the
device), the entities get a device of our own with the same MAC connection, so the
certificate stays visible and revocable.

When a Tasmota device appears for a MAC that sits on our own device, the entry is
reloaded: the entities are created again on the Tasmota device, and our own device
is removed once no entity is left on it. When the Tasmota device is removed, our
entities of that MAC go with it at the reload (never left without a device), and
come back, on a device of ours or Tasmota's, while or when it announces itself.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN
from .discovery import registry_mac

_LOGGER = logging.getLogger(__name__)

TASMOTA_DOMAIN = "tasmota"
# Registry events come in bursts (a Tasmota entry set up creates every device at once);
# one reload covers them all.
RELOAD_DELAY = 1.0


def mac_connection(mac: str) -> tuple[str, str]:
    """The device registry connection for a discovery MAC."""
    return (dr.CONNECTION_NETWORK_MAC, registry_mac(mac))


@callback
def tasmota_device(hass: HomeAssistant, mac: str) -> dr.DeviceEntry | None:
    """The device Home Assistant's Tasmota integration registered for ``mac``, if any."""
    for device in dr.async_get(hass).async_get_devices(connections={mac_connection(mac)}):
        config_entry = hass.config_entries.async_get_entry(device.config_entry_id)
        if config_entry is not None and config_entry.domain == TASMOTA_DOMAIN:
            return device
    return None


@callback
def own_device(hass: HomeAssistant, entry_id: str, mac: str) -> dr.DeviceEntry | None:
    """The device of ours that holds ``mac``'s entities when no Tasmota device does."""
    return dr.async_get(hass).async_get_device_by_identifier((DOMAIN, mac), entry_id)


@callback
def device_for(hass: HomeAssistant, entry_id: str, mac: str) -> dr.DeviceEntry | None:
    """The device our entities of ``mac`` are on: the Tasmota one, else our own."""
    return tasmota_device(hass, mac) or own_device(hass, entry_id, mac)


def mac_of_connections(connections: Iterable[Iterable[str]]) -> str | None:
    """The discovery MAC (12 upper-case hex digits) among a device's connections."""
    for kind, value in connections:
        if kind == dr.CONNECTION_NETWORK_MAC:
            return value.replace(":", "").upper()
    return None


@callback
def async_drop_replaced_own_device(hass: HomeAssistant, entry_id: str, mac: str) -> None:
    """Remove our own device of ``mac`` once a Tasmota device holds all its entities."""
    device = own_device(hass, entry_id, mac)
    if device is None or tasmota_device(hass, mac) is None:
        return
    if er.async_entries_for_device(er.async_get(hass), device.id, include_disabled_entities=True):
        return
    _LOGGER.debug("%s: entities moved to the Tasmota device; removing ours", mac)
    dr.async_get(hass).async_remove_device(device.id)


class DeviceLinkFollower:
    """Reloads the entry when the device our entities belong to changes."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, tracked: Container[str]) -> None:
        """``tracked`` is the live set of MACs the entry has entities for."""
        self._hass = hass
        self._entry = entry
        self._tracked = tracked
        self._pending: object | None = None

    @callback
    def async_start(self) -> None:
        """Follow the device registry until the entry unloads."""
        self._entry.async_on_unload(
            self._hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._on_registry)
        )

    @callback
    def _on_registry(self, event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        action = event.data["action"]
        if action == "create":
            device = dr.async_get(self._hass).async_get(event.data["device_id"])
            if not isinstance(device, dr.DeviceEntry):
                return  # gone again, or a child device (no MAC of its own)
            mac = mac_of_connections(device.connections)
            if (
                mac is not None
                and mac in self._tracked
                and device.config_entry_id != self._entry.entry_id
                and tasmota_device(self._hass, mac) is not None
                and own_device(self._hass, self._entry.entry_id, mac) is not None
            ):
                self._schedule_reload(f"a Tasmota device appeared for {mac}")
        elif action == "remove":
            removed: dict[str, Any] = event.data["device"]  # type: ignore[typeddict-item]
            mac = mac_of_connections(removed.get("connections") or ())
            if mac in self._tracked and removed["config_entry_id"] != self._entry.entry_id:
                self._schedule_reload(f"the Tasmota device of {mac} was removed")

    @callback
    def _schedule_reload(self, why: str) -> None:
        if self._pending is not None:
            return
        _LOGGER.debug("Reloading %s: %s", self._entry.title, why)

        @callback
        def reload(_now: object) -> None:
            self._pending = None
            self._hass.config_entries.async_schedule_reload(self._entry.entry_id)

        self._pending = async_call_later(self._hass, RELOAD_DELAY, reload)
        self._entry.async_on_unload(self._pending)


@callback
def async_remove_orphaned_entities(hass: HomeAssistant, entry_id: str) -> None:
    """Drop our registry entries that a removed device left without one.

    Every entity of ours sits on a device (the Tasmota one, ours, or the CA's). The
    registry unlinks entities of other entries from a removed device instead of removing
    them; ours go with the device, and come back when it announces itself again. Run at
    set-up, before the platforms add entities.
    """
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry_id):
        if entity.device_id is None:
            _LOGGER.debug("Removing %s: its device was removed", entity.entity_id)
            registry.async_remove(entity.entity_id)
