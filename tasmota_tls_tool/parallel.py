"""Bulk device issuance on every core: RSA signing dominates and holds the GIL.

Workers are forked from a single-threaded command-line process, so they share the
already-imported modules; they receive the encrypted CA key and unlock it themselves.
Home Assistant never uses this path (it issues one device at a time, in its executor).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import multiprocessing
import signal
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import profiles
from .keys import PrivateKey, decrypt_key
from .tlskey import private_scalar

Job: TypeAlias = tuple[str, profiles.DnMode, Mapping[str, str] | None, int, int, dt.datetime]

PR_SET_PDEATHSIG = 1
_signer: tuple[PrivateKey, x509.Certificate] | None = None


def sign_device(ca_key: PrivateKey, ca_cert: x509.Certificate, job: Job) -> tuple[bytes, bytes]:
    """One device: (its 32-byte private scalar, its certificate DER)."""
    name, dn_mode, org, days, serial, now = job
    key = ec.generate_private_key(ec.SECP256R1())
    subject = profiles.make_name(name, dn_mode, org)
    cert = profiles.build_device(ca_key, ca_cert, key, subject, serial, days, now)
    return private_scalar(key), cert.public_bytes(serialization.Encoding.DER)


def _die_with_parent() -> None:
    """A killed command (even kill -9) must not leave signing workers behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_worker(ca_key_pem: bytes, passphrase: str, ca_cert_der: bytes) -> None:
    global _signer  # noqa: PLW0603 (one signer per worker process)
    _die_with_parent()
    _signer = decrypt_key(ca_key_pem, passphrase), x509.load_der_x509_certificate(ca_cert_der)


def _sign_in_worker(job: Job) -> tuple[bytes, bytes]:
    assert _signer is not None
    return sign_device(*_signer, job)


def sign_devices(
    ca_key_pem: bytes, passphrase: str, ca_cert: x509.Certificate, jobs: Sequence[Job], workers: int
) -> Iterator[tuple[bytes, bytes]]:
    """Sign jobs across `workers` forked processes; results come in order, as they are done,
    so the caller's own work on each overlaps the signing of the next."""
    context = multiprocessing.get_context("fork")
    ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker,
        initargs=(ca_key_pem, passphrase, ca_der),
    ) as pool:  # fmt: skip
        yield from pool.map(_sign_in_worker, jobs, chunksize=max(1, len(jobs) // (workers * 32)))
