"""The address each device holding one of our certificates was enrolled at.

Anyone who can publish on the broker can publish a discovery config for a MAC. A
config that moves an enrolled device to another IP or command topic must not make
the integration send a fresh private key there: the pinned address stays until the
user confirms the new one (repair flow).
"""

from __future__ import annotations

from typing import TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .discovery import TasmotaDevice

STORAGE_VERSION = 1


class Address(TypedDict):
    """Where key material for the device goes: its web server and its command topic."""

    ip: str
    command_topic: str


def address_of(device: TasmotaDevice) -> Address:
    """The address a discovery config names (topic, full topic, prefix and host name in one)."""
    return {"ip": device.ip, "command_topic": device.command_topic("")}


class AddressPins:
    """Pinned addresses by MAC, saved with Home Assistant's Store."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's storage file (nothing is read yet)."""
        self._store: Store[dict[str, Address]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.address_pins", private=True
        )
        self.pins: dict[str, Address] = {}

    async def async_load(self) -> None:
        """Read the pins saved before the last shutdown."""
        self.pins = dict(await self._store.async_load() or {})

    def moved(self, device: TasmotaDevice) -> bool:
        """True when the device is pinned and now announces another address."""
        pinned = self.pins.get(device.mac)
        return pinned is not None and pinned != address_of(device)

    async def async_pin(self, device: TasmotaDevice) -> None:
        """Pin the address the device announces now."""
        if self.pins.get(device.mac) == address_of(device):
            return
        self.pins[device.mac] = address_of(device)
        await self._store.async_save(dict(self.pins))

    async def async_forget(self, mac: str) -> None:
        """Drop a device removed by the user."""
        if self.pins.pop(mac, None) is not None:
            await self._store.async_save(dict(self.pins))
