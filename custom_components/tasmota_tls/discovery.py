"""Parse Tasmota's retained discovery messages into a device description.

Tasmota announces itself on ``tasmota/discovery/<MAC>/config`` (retained). This
module turns that JSON into a :class:`TasmotaDevice` and builds the device's
command, stat and tele topics the way Tasmota does. It imports nothing from
Home Assistant so the enrolment engine and tools can use it on their own.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .pki.topics import PREFIX_CMND, PREFIX_STAT, PREFIX_TELE, TopicModel

DISCOVERY_PREFIX = "tasmota/discovery"
DISCOVERY_CONFIG_SUBSCRIPTION = f"{DISCOVERY_PREFIX}/+/config"

_UNPUBLISHABLE = ("+", "\x00")  # '#' is dropped from topics, as the firmware does
_MAC_RE = re.compile(r"^[0-9A-F]{12}$")
_CONFIG_TOPIC_RE = re.compile(rf"^{re.escape(DISCOVERY_PREFIX)}/([0-9A-Fa-f]{{12}})/config$")


@dataclass(frozen=True)
class TasmotaDevice:
    """One Tasmota device as its discovery config describes it."""

    mac: str  # 12 uppercase hex digits, no separators
    ip: str
    topic: str
    full_topic: str
    prefixes: tuple[str, str, str]  # (cmnd, stat, tele)
    hostname: str
    name: str
    firmware: str
    model: str
    online_payload: str
    offline_payload: str

    @cached_property
    def topics(self) -> TopicModel:
        """The device's topics as the firmware builds them (pki.topics, one model)."""
        return TopicModel(self.topic, self.full_topic, self.prefixes, self.hostname, self.mac)

    def topic_for(self, prefix_index: int, suffix: str) -> str:
        """Expand the full topic for one prefix and append ``suffix``, as Tasmota does."""
        return self.topics.topic_for(prefix_index, suffix)

    def command_topic(self, command: str) -> str:
        """Topic a command is published to, e.g. ``cmnd/plug/TLSKey1``."""
        return self.topic_for(PREFIX_CMND, command)

    def stat_topic(self, suffix: str) -> str:
        """Topic a reply arrives on, e.g. ``stat/plug/RESULT``."""
        return self.topic_for(PREFIX_STAT, suffix)

    def tele_topic(self, suffix: str) -> str:
        """Telemetry topic, e.g. ``tele/plug/LWT``."""
        return self.topic_for(PREFIX_TELE, suffix)

    @property
    def lwt_topic(self) -> str:
        """Where the device's Online/Offline will is published (retained)."""
        return self.tele_topic("LWT")


def normalize_mac(mac: str) -> str:
    """Return ``mac`` as 12 uppercase hex digits; accepts ``:``/``-`` separators."""
    compact = mac.replace(":", "").replace("-", "").strip().upper()
    if not _MAC_RE.match(compact):
        raise ValueError(f"not a MAC address: {mac!r}")
    return compact


def registry_mac(mac: str) -> str:
    """The MAC as Home Assistant's device registry stores it (``aa:bb:cc:dd:ee:ff``).

    Home Assistant's Tasmota integration registers devices with the discovery MAC
    as a network connection; the registry normalises it to this form, so entities
    of this integration attach to the same device when they use it too.
    """
    compact = normalize_mac(mac).lower()
    return ":".join(compact[i : i + 2] for i in range(0, 12, 2))


def mac_from_config_topic(topic: str) -> str | None:
    """The MAC in ``tasmota/discovery/<MAC>/config``, or None for any other topic."""
    match = _CONFIG_TOPIC_RE.match(topic)
    return match.group(1).upper() if match else None


def _text(config: dict[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    value = config.get(key)
    if value is None:
        if required:
            raise ValueError(f"discovery config lacks {key!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"discovery config field {key!r} is not text")
    return str(value)


def _address(text: str) -> str:
    """The device's IP address; anything else would send HTTP elsewhere."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"discovery config field 'ip' is not an IP address: {text!r}") from None


def _prefixes(config: dict[str, Any]) -> tuple[str, str, str]:
    value = config.get("tp")
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise ValueError("discovery config field 'tp' must list three prefixes (cmnd, stat, tele)")
    return (value[0], value[1], value[2])


def parse_discovery_config(payload: str | bytes) -> TasmotaDevice:
    """Parse the JSON of ``tasmota/discovery/<MAC>/config``.

    Raises ValueError with a message naming the problem when the payload is not a
    usable discovery config (including the empty payload of a removed device).
    """
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="strict")
    if not payload.strip():
        raise ValueError("empty discovery payload (the device was removed)")
    try:
        config = json.loads(payload)
    except json.JSONDecodeError as err:
        raise ValueError(f"discovery payload is not JSON: {err.msg}") from None
    except RecursionError:
        raise ValueError("discovery payload is nested too deeply") from None
    if not isinstance(config, dict):
        raise ValueError("discovery payload is not a JSON object")

    topic = _text(config, "t", required=True)
    full_topic = _text(config, "ft", required=True)
    if not topic:
        raise ValueError("discovery config field 't' (topic) is empty")
    if not full_topic:
        raise ValueError("discovery config field 'ft' (full topic) is empty")

    device = TasmotaDevice(
        mac=normalize_mac(_text(config, "mac", required=True)),
        ip=_address(_text(config, "ip", required=True)),
        topic=topic,
        full_topic=full_topic,
        prefixes=_prefixes(config),
        hostname=_text(config, "hn"),
        name=_text(config, "dn") or topic,
        firmware=_text(config, "sw"),
        model=_text(config, "md"),
        online_payload=_text(config, "onln", default="Online"),
        offline_payload=_text(config, "ofln", default="Offline"),
    )
    for index in (PREFIX_CMND, PREFIX_STAT, PREFIX_TELE):
        # Anyone on the broker can publish a config: refuse topics nobody can publish to.
        if any(mark in device.topic_for(index, "") for mark in _UNPUBLISHABLE):
            raise ValueError("discovery config gives a topic with '+' or NUL")
    return device
