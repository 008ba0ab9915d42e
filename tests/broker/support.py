"""What the broker tests share besides fixtures: names, discovery configs, old CRLs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import PkiStore, profiles
from custom_components.tasmota_tls.pki.keys import PrivateKey, decrypt_key

PASSPHRASE = "broker bundle passphrase"
BROKER_HOST = "localhost"


def discovery(topic: str, mac: str, **extra: Any) -> dict[str, Any]:
    """A Tasmota discovery config with the fields the ACL needs."""
    config: dict[str, Any] = {
        "ip": "127.0.0.2",
        "dn": topic,
        "hn": f"{topic}-{mac[-4:]}",
        "mac": mac,
        "md": "Sonoff Basic",
        "sw": "14.5.0",
        "t": topic,
        "ft": "%prefix%/%topic%/",
        "tp": ["cmnd", "stat", "tele"],
    }
    config.update(extra)
    return config


def ca_key(store: PkiStore) -> PrivateKey:
    """The CA's private key, for certificates and CRLs dated in the past."""
    return decrypt_key((store.directory / "ca.key").read_bytes(), PASSPHRASE)


def expired_crl_pem(store: PkiStore) -> bytes:
    """A CRL of this CA whose nextUpdate passed a day ago (as if nobody refreshed it)."""
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    crl = profiles.build_crl(ca_key(store), store.ca_certificate(), [], 1, 1, issued)
    return crl.public_bytes(serialization.Encoding.PEM)
