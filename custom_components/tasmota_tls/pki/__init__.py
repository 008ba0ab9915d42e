"""Certificate core for tasmota_tls.

Knows Tasmota's TLS limits, issues the CA, broker and device certificates, keeps the
index, and renders what the firmware needs. It imports nothing from Home Assistant so
that the integration, the command-line tool and the simulator can all share it.
"""

from .errors import (
    InvalidNameError,
    NotFoundError,
    PkiError,
    SizeLimitError,
    StoreCorruptError,
    WrongPassphraseError,
)
from .fingerprint import fingerprint_bytes, tasmota_fingerprint
from .index import IndexEntry
from .store import DeviceRequest, IssuedCredential, PkiStore
from .tlskey import TlsKeyPayloads, key_from_scalar, payloads_for, private_scalar

__all__ = [
    "DeviceRequest",
    "IndexEntry",
    "InvalidNameError",
    "IssuedCredential",
    "NotFoundError",
    "PkiError",
    "PkiStore",
    "SizeLimitError",
    "StoreCorruptError",
    "TlsKeyPayloads",
    "WrongPassphraseError",
    "fingerprint_bytes",
    "key_from_scalar",
    "payloads_for",
    "private_scalar",
    "tasmota_fingerprint",
]
