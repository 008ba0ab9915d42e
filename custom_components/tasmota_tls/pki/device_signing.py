"""Signing one device certificate: the unit of work of a bulk issuance.

Home Assistant signs one device at a time in its executor. The command-line tool
(tasmota_tls_tool.parallel, not shipped with the integration) passes a BulkSigner that
spreads many over forked processes; the core never forks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import profiles
from .keys import PrivateKey
from .tlskey import private_scalar

Job: TypeAlias = tuple[str, profiles.DnMode, Mapping[str, str] | None, int, int, dt.datetime]
# (encrypted CA key PEM, passphrase, CA certificate, jobs) -> (scalar, DER) per job, in order.
BulkSigner: TypeAlias = Callable[
    [bytes, str, x509.Certificate, Sequence[Job]], Iterable[tuple[bytes, bytes]]
]


def sign_device(ca_key: PrivateKey, ca_cert: x509.Certificate, job: Job) -> tuple[bytes, bytes]:
    """One device: (its 32-byte private scalar, its certificate DER)."""
    name, dn_mode, org, days, serial, now = job
    key = ec.generate_private_key(ec.SECP256R1())
    subject = profiles.make_name(name, dn_mode, org)
    cert = profiles.build_device(ca_key, ca_cert, key, subject, serial, days, now)
    return private_scalar(key), cert.public_bytes(serialization.Encoding.DER)
