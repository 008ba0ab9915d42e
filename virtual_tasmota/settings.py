"""A device's flash: the settings that survive a restart, kept as one JSON file.

The file holds the TLS private key (TLSKey1), so it is written 0600 through a temporary
file and a rename: a reader never sees half a file. There is no fsync: a simulated flash
need not survive a power cut of the host, and 200 devices booting at once would wait on it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .firmware import (
    MQTT_CLIENT_ID,
    MQTT_FULLTOPIC,
    MQTT_KEEPALIVE,
    MQTT_PASS,
    MQTT_RETRY_SECS,
    MQTT_USER,
    START_VALID_TIME,
)

__all__ = ["MQTT_CLIENT_ID", "MQTT_FULLTOPIC", "MQTT_PASS", "MQTT_RETRY_SECS", "MQTT_USER"]

MAX_RULE_SETS = 3
MAX_RULE_SIZE = 512
# Fingerprint 1 all zero = learn on first connection; fingerprint 2 = SHA-1 of nothing.
DEFAULT_FINGERPRINT1 = "00" * 20
DEFAULT_FINGERPRINT2 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"


@dataclass
class DeviceSettings:
    """What Tasmota keeps in flash, as far as this simulator needs it."""

    mac: str
    topic: str
    mqtt_host: str
    mqtt_port: int
    mqtt_user: str = MQTT_USER
    mqtt_password: str = MQTT_PASS
    mqtt_client: str = MQTT_CLIENT_ID
    mqtt_retry: int = MQTT_RETRY_SECS
    mqtt_keepalive: int = MQTT_KEEPALIVE
    full_topic: str = MQTT_FULLTOPIC
    prefixes: list[str] = field(default_factory=lambda: ["cmnd", "stat", "tele"])
    device_name: str = "Tasmota"
    friendly_name: str = "Tasmota"
    web_password: str = ""
    setoption103: int = 0  # MQTT TLS
    setoption132: int = 0  # validate the broker by fingerprint instead of CA
    setoption165: int = 0  # ECDSA suite and chain verifier too (USE_MQTT_TLS_ECDSA builds)
    fingerprint1: str = DEFAULT_FINGERPRINT1  # 40 hex digits
    fingerprint2: str = DEFAULT_FINGERPRINT2
    tlskey1: bytes | None = None  # raw 32-byte P-256 scalar
    tlskey2: bytes | None = None  # client certificate, DER
    rules: list[str] = field(default_factory=lambda: [""] * MAX_RULE_SETS)
    rule_enabled: list[int] = field(default_factory=lambda: [0] * MAX_RULE_SETS)
    rule_once: list[int] = field(default_factory=lambda: [0] * MAX_RULE_SETS)
    rule_stop: list[int] = field(default_factory=lambda: [0] * MAX_RULE_SETS)
    boot_count: int = 0
    cfg_timestamp: int = 0  # SettingsSave(): UtcTime() when known, else the old stamp + 1

    # dict-style access, so callers may write settings["mqtt_host"]
    def __getitem__(self, name: str) -> Any:
        if name not in self.field_names():
            raise KeyError(name)
        return getattr(self, name)

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self.field_names():
            raise KeyError(name)
        setattr(self, name, value)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @property
    def mqtt_client_id(self) -> str:
        """MqttClient with %06X expanded from the MAC, as the firmware does."""
        return expand_mac_format(self.mqtt_client, self.mac)

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("tlskey1", "tlskey2"):
            raw = data[name]
            data[name] = base64.b64encode(raw).decode() if raw is not None else None
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeviceSettings:
        data = json.loads(text)
        for name in ("tlskey1", "tlskey2"):
            if data.get(name) is not None:
                data[name] = base64.b64decode(data[name])
        known = cls.field_names()
        return cls(**{k: v for k, v in data.items() if k in known})


def expand_mac_format(template: str, mac: str) -> str:
    """Expand %06X (and %0NX generally) with the last N hex digits of the MAC."""
    out = template
    for digits in range(12, 0, -1):
        token = f"%0{digits}X"
        if token in out:
            out = out.replace(token, mac[-digits:].upper())
    return out


def stamp_settings(settings: DeviceSettings, utc: int) -> None:
    """SettingsSave() (settings.ino): cfg_timestamp is UtcTime() once the clock is past
    START_VALID_TIME, else the old stamp plus one. CfgTime() gives it back at connection time."""
    settings.cfg_timestamp = utc if utc > START_VALID_TIME else settings.cfg_timestamp + 1


def save_settings(path: Path, settings: DeviceSettings) -> None:
    """Write atomically (temporary file, rename) with mode 0600: the file holds a private key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(settings.to_json())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_settings(path: Path) -> DeviceSettings | None:
    try:
        return DeviceSettings.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
