"""The address each device holding one of our certificates was enrolled at.

Anyone who can publish on the broker can publish a discovery config for a MAC. A
config that moves an enrolled device to another IP, command topic, FullTopic or
prefixes must not make the integration send a fresh private key there, nor widen the
device's rights in the broker's ACL: the pinned address stays until the user confirms
the new one (repair flow). The ACL is written from the pin, not from discovery.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ..const import DOMAIN
from ..discovery import TasmotaDevice
from ..pki.topics import TopicModel

STORAGE_VERSION = 1
# What a pin holds beyond the IP and command topic, since the topics are pinned whole.
# Pins written before lack them; see AddressPins.moved.
TOPIC_KEYS = ("topic", "full_topic", "prefixes", "hostname", "stat_topic", "tele_topic")


class Address(TypedDict):
    """Where key material for the device goes, and the topics its ACL is built from."""

    ip: str
    command_topic: str
    topic: NotRequired[str]
    full_topic: NotRequired[str]
    prefixes: NotRequired[list[str]]
    hostname: NotRequired[str]
    stat_topic: NotRequired[str]
    tele_topic: NotRequired[str]


def address_of(device: TasmotaDevice) -> Address:
    """The address a discovery config names: IP, and the topics its fields expand to."""
    return {
        "ip": device.ip,
        "command_topic": device.command_topic(""),
        "topic": device.topic,
        "full_topic": device.full_topic,
        "prefixes": list(device.prefixes),
        "hostname": device.hostname,
        "stat_topic": device.stat_topic(""),
        "tele_topic": device.tele_topic(""),
    }


def _compared(address: Address) -> tuple[object, ...]:
    # The host name counts only through the topics it expands into.
    return tuple(address.get(key) for key in ("ip", "command_topic", "full_topic", "prefixes",
                                               "stat_topic", "tele_topic"))  # fmt: skip


def is_legacy(pin: Address) -> bool:
    """A pin from before topics were pinned (IP and command topic only)."""
    return any(key not in pin for key in TOPIC_KEYS)


def pinned_topics(pin: Address, mac: str) -> TopicModel | None:
    """The topic model a pin was enrolled with; None for a legacy pin."""
    if is_legacy(pin):
        return None
    prefixes = pin["prefixes"]
    return TopicModel(
        pin["topic"],
        pin["full_topic"],
        (prefixes[0], prefixes[1], prefixes[2]),
        pin["hostname"],
        mac,
    )


class AddressPins:
    """Pinned addresses by MAC, saved with Home Assistant's Store."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's storage file (nothing is read yet)."""
        self._store: Store[dict[str, Address]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.address_pins", private=True
        )
        self.pins: dict[str, Address] = {}
        self.version = 0  # changes with every pin: cache key for the guard's claims

    async def async_load(self) -> None:
        """Read the pins saved before the last shutdown."""
        self.pins = dict(await self._store.async_load() or {})
        self.version += 1

    def moved(self, device: TasmotaDevice) -> bool:
        """True when the device is pinned and now announces another address or topics.

        A legacy pin compares the IP and command topic only; the guard completes it
        with the topics the device announces while those two still match.
        """
        pinned = self.pins.get(device.mac)
        if pinned is None:
            return False
        now = address_of(device)
        if is_legacy(pinned):
            return (pinned["ip"], pinned["command_topic"]) != (now["ip"], now["command_topic"])
        return _compared(pinned) != _compared(now)

    async def async_pin(self, device: TasmotaDevice) -> None:
        """Pin the address the device announces now."""
        if self.pins.get(device.mac) == address_of(device):
            return
        self.pins[device.mac] = address_of(device)
        self.version += 1
        await self._store.async_save(dict(self.pins))

    async def async_forget(self, mac: str) -> None:
        """Drop a device removed by the user."""
        if self.pins.pop(mac, None) is not None:
            self.version += 1
            await self._store.async_save(dict(self.pins))
