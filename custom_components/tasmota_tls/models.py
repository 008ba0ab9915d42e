"""Runtime data shared by the entry's platforms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from .const import CONF_RENEW_DAYS, DEFAULT_RENEW_DAYS
from .discovery import TasmotaDevice

if TYPE_CHECKING:
    from .ca import CertificateAuthority
    from .lifecycle import Lifecycle
    from .manager import TlsManager


class TlsStatus(StrEnum):
    """The TLS status sensor's states."""

    NOT_ENROLLED = "not_enrolled"
    QUEUED = "queued"  # waiting for a free slot (enrolments at a time)
    ENROLLING = "enrolling"
    RENEWING = "renewing"
    CONNECTED_TLS = "connected_tls"
    CONNECTED_PLAIN = "connected_plain"
    OFFLINE = "offline"
    FAILED = "failed"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass
class DeviceState:
    """What is known about one discovered device right now."""

    device: TasmotaDevice
    present: bool = True  # False after its discovery config was removed
    online: bool | None = None  # from the LWT
    mqtt_tls: bool | None = None  # from Status 6
    mqtt_host: str | None = None
    mqtt_port: int | None = None


@dataclass
class TasmotaTlsData:
    """Everything one entry runs on."""

    ca: CertificateAuthority
    manager: TlsManager
    lifecycle: Lifecycle


type TasmotaTlsConfigEntry = ConfigEntry[TasmotaTlsData]


def renew_window(entry: ConfigEntry) -> dt.timedelta:
    """How long before expiry a certificate is renewed (option, in days)."""
    return dt.timedelta(days=int(entry.options.get(CONF_RENEW_DAYS, DEFAULT_RENEW_DAYS)))
