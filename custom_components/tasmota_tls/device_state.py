"""What is known about one device right now, and the TLS status shown for it.

The lowest layer of the runtime: the tracker fills ``DeviceState``; the read model turns
it, the certificate and the journal into a ``TlsStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from .discovery import TasmotaDevice

type Operation = Literal["enrol", "renew"]


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

    @property
    def connected_tls(self) -> bool:
        """Online, and Status 6 said TLS."""
        return bool(self.online) and bool(self.mqtt_tls)
