"""The few places the rest of the integration calls into the add-on support.

Each is a no-op unless this entry configured the add-on (its state file says so), so
the bundle path is untouched on every other install.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback

from ..address_guard import AddressGuard
from ..broker.acl import DeviceTopics
from ..events import DeviceEvents
from ..issues import ISSUE_ADDON_REVOCATION_PENDING as ISSUE_REVOCATION_PENDING
from ..issues import async_set_issue
from ..naming import certificate_name
from ..pki import PkiError
from ..read_model import DeviceReadModel
from ..settings import EntrySettings
from . import AddonError, get_addon_manager
from .options import LoginConflictError
from .service import DATA_BROKERS, AddonBroker, AddonSetupError, async_applied_broker

_LOGGER = logging.getLogger(__name__)
EVENT_REVOCATION_EFFECTIVE = "addon_revocation_effective"
MAX_USER_CHARS = 32  # Tasmota keeps MqttUser in 32 characters
RECONNECT_GRACE = 1.0
RECONNECT_SECONDS = 60.0


class AddonEnrolmentError(Exception):
    """The device cannot get its add-on login; ``reason`` is a failure reason key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


async def _async_mqtt_back(hass: HomeAssistant, *, grace: bool = True) -> None:
    """Home Assistant's MQTT client is connected, and has been for a moment.

    After a restart the enrolment needs it back. Before one, a client that has just
    connected is still publishing its birth message, which a restart would make fail.
    """
    loop = asyncio.get_running_loop()
    if grace:
        await asyncio.sleep(RECONNECT_GRACE)  # the client notices the closed socket first
    deadline = loop.time() + RECONNECT_SECONDS
    while not mqtt.is_connected(hass):
        if loop.time() > deadline:
            raise AddonEnrolmentError("addon_failed", "MQTT did not reconnect after the restart")
        await asyncio.sleep(0.2)
    await asyncio.sleep(RECONNECT_GRACE)


class AddonHooks:
    """The add-on's part in one entry's enrolments and revocations."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        view: DeviceReadModel,
        guard: AddressGuard,
        events: DeviceEvents,
    ) -> None:
        """Hooks for the entry in ``settings``."""
        self._hass = hass
        self._settings = settings
        self._view = view
        self._guard = guard
        self._events = events

    def _name(self, mac: str) -> str | None:
        if (name := self._view.certificate_name(mac)) is not None:
            return name
        state = self._view.device_state(mac)
        return certificate_name(state.device) if state else None

    def _devices(self, extra_mac: str | None = None) -> list[DeviceTopics]:
        """ACL entries: devices with a certificate, and the one being enrolled (none yet)."""
        devices, _ = self._view.device_topics()
        state = self._view.device_state(extra_mac) if extra_mac else None
        if (
            extra_mac is not None
            and state is not None
            and extra_mac not in {d.mac for d in devices}
        ):
            try:
                devices.append(self._guard.acl_topics(extra_mac, state.device, state.device.topics))
            except PkiError as err:
                raise AddonEnrolmentError("topics_refused", str(err)) from None
        return devices

    async def async_prepare_enrolment(self, mac: str, name: str) -> None:
        """Before an enrolment: the device's login and ACL block in the add-on, restarted.

        The add-on reads logins and the ACL only when it starts, so this restarts it
        (every client reconnects) whenever the device's login is new.
        """
        broker = await async_applied_broker(self._hass, self._settings.store_id)
        if broker is None:
            return
        if len(name) > MAX_USER_CHARS:
            raise AddonEnrolmentError(
                "addon_login_too_long", f"{name} has more than {MAX_USER_CHARS} characters"
            )
        await broker.async_login(name)
        try:
            await _async_mqtt_back(self._hass, grace=False)  # never restart under a fresh connect
            if await broker.async_sync(self._devices(mac)):
                await _async_mqtt_back(self._hass)
            broker.options = (await get_addon_manager(self._hass).async_get_addon_info()).options
        except LoginConflictError as err:
            raise AddonEnrolmentError("addon_login_conflict", str(err)) from None
        except (AddonError, OSError) as err:
            raise AddonEnrolmentError("addon_failed", str(err)) from None

    @callback
    def engine_login(self, mac: str | None, channel: str) -> dict[str, Any]:
        """MqttUser/MqttPassword for the engine when the device has an add-on login.

        The previous login's password goes into the rollback rule only over the HTTP
        channel: over MQTT the device would echo the rule (and so the password) in a reply
        that Home Assistant's MQTT client logs at debug level.
        """
        brokers: dict[str, AddonBroker] = self._hass.data.get(DATA_BROKERS, {})
        broker = brokers.get(self._settings.store_id)
        name = self._name(mac) if mac else None
        if broker is None or not broker.state.applied or name not in broker.state.logins:
            return {}
        options: dict[str, Any] = {"mqtt_user": name, "mqtt_password": broker.state.logins[name]}
        if channel == "http":
            options["previous_passwords"] = broker.previous_passwords(broker.options)
        return options

    async def async_device_revoked(self, mac: str) -> None:
        """After a revocation: the login and ACL block go, the add-on restarts, then we check.

        A repair says the revocation is pending until the add-on refuses the login; the
        add-on has no CRL, so until that restart the certificate alone still works.
        """
        hass = self._hass
        broker = await async_applied_broker(hass, self._settings.store_id)
        name = self._name(mac)
        if broker is None or name is None or not await broker.async_forget_login(name):
            return
        entry_id = self._settings.entry_id
        placeholders = {"name": name}
        async_set_issue(hass, ISSUE_REVOCATION_PENDING, entry_id, True, placeholders, mac=mac)
        try:
            await _async_mqtt_back(hass, grace=False)
            await broker.async_sync(self._devices())
            info = await get_addon_manager(hass).async_get_addon_info()
            refused = await broker.async_refused(name, info.hostname or "core-mosquitto")
        except (AddonError, AddonSetupError, OSError, AddonEnrolmentError) as err:
            _LOGGER.warning(
                "Tasmota %s: the Mosquitto add-on could not be updated (%s); the revocation "
                "takes effect at its next restart after the login is removed",
                mac,
                err,
            )
            return
        if refused:
            async_set_issue(hass, ISSUE_REVOCATION_PENDING, entry_id, False, mac=mac)
            self._events.fire(mac, EVENT_REVOCATION_EFFECTIVE, name=name)
            self._view.async_notify(mac)
