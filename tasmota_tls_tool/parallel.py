"""Bulk device issuance on every core, for the command-line tool: RSA signing dominates
and holds the GIL.

Workers are forked from a single-threaded command-line process, so they share the
already-imported modules; they receive the encrypted CA key and unlock it themselves.
Home Assistant never uses this path (it issues one device at a time, in its executor),
so it lives outside the integration's folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki.device_signing import BulkSigner, Job, sign_device
from custom_components.tasmota_tls.pki.keys import PrivateKey, decrypt_key

PR_SET_PDEATHSIG = 1
_signer: tuple[PrivateKey, x509.Certificate] | None = None


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


def forked_signer(workers: int) -> BulkSigner:
    """A BulkSigner for PkiStore.issue_devices that signs across ``workers`` processes."""

    def sign(
        ca_key_pem: bytes, passphrase: str, ca_cert: x509.Certificate, jobs: Sequence[Job]
    ) -> Iterator[tuple[bytes, bytes]]:
        return sign_devices(ca_key_pem, passphrase, ca_cert, jobs, workers)

    return sign
