"""The ``tasmota_tls_event`` of one entry's devices, for automations."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback

from .const import EVENT_TASMOTA_TLS
from .device_links import device_for


class DeviceEvents:
    """Fires the event with the device registry ID our entities of the MAC are on."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Events of the entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id

    def ha_device_id(self, mac: str) -> str | None:
        """The device registry ID of the device our entities of ``mac`` are on."""
        device = device_for(self._hass, self._entry_id, mac)
        return device.id if device else None

    @callback
    def fire(self, mac: str, kind: str, **extra: Any) -> None:
        """Fire ``tasmota_tls_event`` (never with key material)."""
        self._hass.bus.async_fire(
            EVENT_TASMOTA_TLS,
            {"device_id": self.ha_device_id(mac), "mac": mac, "type": kind, **extra},
        )
