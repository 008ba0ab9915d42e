"""What the store hands out: a device request, and an issued certificate with its key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import dates, profiles
from .index import IndexEntry, Kind
from .keys import PrivateKey, plain_pem
from .limits import DEVICE_DAYS
from .tlskey import TlsKeyPayloads, key_from_scalar
from .x509_names import common_name


@dataclass(frozen=True)
class DeviceRequest:
    """One device to issue: its name (CN) and where its TLSKey2 command will go."""

    name: str
    topic: str | None = None
    command_topic: str | None = None
    days: int = DEVICE_DAYS
    dn_mode: profiles.DnMode = "cn_only"
    org: Mapping[str, str] | None = None
    mac: str | None = None  # the device it is for: recorded in its index entry

    @property
    def resolved_topic(self) -> str:
        return self.topic or self.name

    @property
    def resolved_command_topic(self) -> str:
        return self.command_topic or f"cmnd/{self.resolved_topic}/TLSKey2"


@dataclass(frozen=True)
class IssuedCredential:
    """A freshly issued certificate with its private key (kept only in memory)."""

    entry: IndexEntry
    # The key, or a device key's 32-byte scalar: bulk issuance builds key objects only
    # when asked (deriving the public point is a tenth of the cost of a certificate).
    key_source: PrivateKey | bytes
    certificate: x509.Certificate
    payloads: TlsKeyPayloads | None = None

    @cached_property
    def key(self) -> PrivateKey:
        source = self.key_source
        return key_from_scalar(source) if isinstance(source, bytes) else source

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem_unencrypted(self) -> bytes:
        return plain_pem(self.key)

    def __repr__(self) -> str:  # never print the key
        return f"IssuedCredential(cn={self.entry.cn!r}, serial={self.entry.serial})"


def entry_for(
    cert: x509.Certificate, kind: Kind, topic: str | None = None, mac: str | None = None
) -> IndexEntry:
    """The index entry that records ``cert``."""
    return IndexEntry(
        serial=f"{cert.serial_number:x}",
        cn=common_name(cert),
        kind=kind,
        not_before=dates.not_before(cert),
        not_after=dates.not_after(cert),
        topic=topic,
        mac=mac,
    )
