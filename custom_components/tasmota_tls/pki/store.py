"""The PKI store: one folder holding the CA, its index, the broker certificate and the CRL.

Layout (keys 0600, the rest 0644):
    ca.crt, ca.key (PKCS#8, AES-256, passphrase), index.json (entries and their
    certificates), broker.crt, broker.key (encrypted), ha-client.crt, ha-client.key
    (encrypted), crl.pem

Every change takes an exclusive lock and replaces index.json atomically, so a crash
never leaves a half-written store and a serial is never handed out twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import dates, easyrsa, parallel, profiles
from .errors import NotFoundError, PkiError
from .fsutil import KEY_MODE, atomic_write
from .index import Index, IndexEntry, Kind, file_signature
from .keys import KeyAlgorithm, PrivateKey, decrypt_key, encrypt_key, generate_key, plain_pem
from .limits import BROKER_DAYS, CA_DAYS, CRL_DAYS, DEVICE_DAYS, HA_CLIENT_DAYS
from .names import validate_common_name
from .tlskey import TlsKeyPayloads, key_from_scalar, payloads_for_scalar

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
INDEX = "index.json"
BROKER_CERT = "broker.crt"
BROKER_KEY = "broker.key"
HA_CLIENT_CERT = "ha-client.crt"
HA_CLIENT_KEY = "ha-client.key"
CRL = "crl.pem"
LOCK = ".lock"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


class PkiStore:
    """A CA and everything it issued, in one folder."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._thread_lock = threading.RLock()
        self._unlocked: dict[bytes, PrivateKey] = {}
        self._salt = os.urandom(16)
        self._cached: tuple[tuple[int, int, int], Index] | None = None

    # ---- reading -------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return (self.directory / CA_CERT).is_file() and (self.directory / INDEX).is_file()

    def _require(self) -> None:
        if not self.exists:
            raise PkiError(
                f"No CA in {self.directory}. Create one with `init` or import one first.",
                code="no_store",
            )

    def ca_certificate(self) -> x509.Certificate:
        self._require()
        return _load_cert(self.directory / CA_CERT)

    def entries(self) -> list[IndexEntry]:
        self._require()
        return list(self._index().entries)

    def find(self, serial_or_name: str) -> IndexEntry:
        """An entry by serial (hex), or the newest valid one with that CN."""
        self._require()
        return _find_in(self._index(), serial_or_name)

    def certificate(self, entry: IndexEntry) -> x509.Certificate:
        der = self._index().certificates.get(entry.serial)
        if der is None:
            raise NotFoundError(f"The certificate of {entry.cn} ({entry.serial}) is not stored.")
        return x509.load_der_x509_certificate(der)

    def broker_certificate(self) -> x509.Certificate | None:
        path = self.directory / BROKER_CERT
        return _load_cert(path) if path.is_file() else None

    def broker_key(self, passphrase: str) -> PrivateKey:
        return decrypt_key(
            (self.directory / BROKER_KEY).read_bytes(), passphrase, what="broker key"
        )

    def ha_client_key(self, passphrase: str) -> PrivateKey:
        return decrypt_key((self.directory / HA_CLIENT_KEY).read_bytes(), passphrase, what="HA key")

    def crl(self) -> x509.CertificateRevocationList | None:
        path = self.directory / CRL
        return x509.load_pem_x509_crl(path.read_bytes()) if path.is_file() else None

    def check_passphrase(self, passphrase: str) -> None:
        self._ca_key(passphrase)

    # ---- creating ------------------------------------------------------------
    def init_ca(
        self,
        passphrase: str,
        cn: str,
        *,
        algo: KeyAlgorithm = "rsa",
        dn_mode: profiles.DnMode = "cn_only",
        org: Mapping[str, str] | None = None,
        days: int = CA_DAYS,
    ) -> x509.Certificate:
        """A new CA: RSA-2048 unless asked for EC (ESP32 with newer firmware only)."""
        self._refuse_existing()  # before the costly key generation
        _check_free_text(cn)
        name = profiles.make_name(cn, dn_mode, org)
        key = generate_key(algo)
        key_pem = encrypt_key(key, passphrase)
        with self._mutation(creating=True):
            index = Index(entries=[], used_serials=set())
            serial = profiles.new_serial(index.used_serials)
            cert = profiles.build_ca(key, name, serial, days, utcnow())
            self._write_ca(cert, key_pem, index, kind="ca")
        self._remember(passphrase, key)
        return cert

    def import_pem(self, cert_pem: bytes, key_pem: bytes, passphrase: str) -> x509.Certificate:
        """Keep an existing CA given as PEM; an unencrypted key is encrypted with passphrase."""
        cert = easyrsa.load_ca_certificate(cert_pem)
        key = easyrsa.load_ca_key(key_pem, passphrase, cert)
        with self._mutation(creating=True):
            index = Index(entries=[], used_serials=set())
            self._write_ca(cert, encrypt_key(key, passphrase), index, kind="ca")
        self._remember(passphrase, key)
        return cert

    def import_easyrsa(self, pki_dir: Path | str, passphrase: str) -> int:
        """Adopt an Easy-RSA pki/: its CA, and every row of its index with its serial."""
        imported = easyrsa.read_pki(Path(pki_dir), passphrase)
        with self._mutation(creating=True):
            index = Index(entries=[], used_serials=set(imported.used_serials))
            for row, cert in imported.rows:
                index.add(row, cert.public_bytes(serialization.Encoding.DER) if cert else None)
            self._write_ca(
                imported.ca_cert, encrypt_key(imported.ca_key, passphrase), index, kind="ca"
            )
        self._remember(passphrase, imported.ca_key)
        return len(imported.rows)

    def _write_ca(self, cert: x509.Certificate, key_pem: bytes, index: Index, kind: Kind) -> None:
        index.add(_entry_for(cert, kind), cert.public_bytes(serialization.Encoding.DER), first=True)
        atomic_write(self.directory / CA_KEY, key_pem, KEY_MODE)
        atomic_write(self.directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
        index.save(self.directory / INDEX)  # last: the store exists only once it is whole

    # ---- issuing -------------------------------------------------------------
    def issue_device(
        self,
        passphrase: str,
        name: str,
        *,
        topic: str | None = None,
        command_topic: str | None = None,
        days: int = DEVICE_DAYS,
        dn_mode: profiles.DnMode = "cn_only",
        org: Mapping[str, str] | None = None,
        mac: str | None = None,
    ) -> IssuedCredential:
        """An EC P-256 key and a small certificate, checked against the device's limits first."""
        request = DeviceRequest(name, topic, command_topic, days, dn_mode, org, mac)
        return self.issue_devices(passphrase, [request])[0]

    def issue_devices(
        self, passphrase: str, requests: Sequence[DeviceRequest], *, workers: int = 1
    ) -> list[IssuedCredential]:
        """Many devices in one locked step and one index write; all or nothing.

        Every request is checked (name, size guard) before anything is recorded.
        workers > 1 signs in forked processes: for the command line only, never inside
        a threaded program such as Home Assistant.
        """
        for request in requests:
            validate_common_name(request.name)
        ca_key, ca_cert = self._ca_key(passphrase), self.ca_certificate()
        issued: list[IssuedCredential] = []
        with self._mutation():
            index = self._index()
            used = set(index.used_serials)
            now = utcnow()
            jobs: list[parallel.Job] = []
            for request in requests:
                serial = profiles.new_serial(used)
                used.add(serial)
                jobs.append((request.name, request.dn_mode, request.org, request.days, serial, now))
            if workers > 1 and len(jobs) > 1:
                ca_key_pem = (self.directory / CA_KEY).read_bytes()
                signed = parallel.sign_devices(ca_key_pem, passphrase, ca_cert, jobs, workers)
            else:
                signed = (parallel.sign_device(ca_key, ca_cert, job) for job in jobs)
            for request, (scalar, der) in zip(requests, signed, strict=True):
                cert = x509.load_der_x509_certificate(der)
                payloads = payloads_for_scalar(scalar, der, request.resolved_command_topic)
                entry = _entry_for(cert, "device", topic=request.resolved_topic, mac=request.mac)
                issued.append(IssuedCredential(entry, scalar, cert, payloads))
            for credential in issued:
                index.add(credential.entry, credential.cert_der)
            self._save(index)
        return issued

    def issue_broker(
        self,
        passphrase: str,
        host: str,
        *,
        extra_names: Iterable[str] = (),
        days: int = BROKER_DAYS,
    ) -> IssuedCredential:
        """An RSA-2048 server certificate for the MqttHost; it becomes the current one."""
        extra = list(extra_names)
        ca_key, ca_cert = self._ca_key(passphrase), self.ca_certificate()
        key = generate_key("rsa")

        def build(serial: int) -> x509.Certificate:
            return profiles.build_broker(ca_key, ca_cert, key, host, extra, serial, days, utcnow())

        cert, entry = self._issue(build, "broker", (BROKER_CERT, BROKER_KEY, key, passphrase))
        return IssuedCredential(entry, key, cert)

    def issue_ha_client(
        self, passphrase: str, name: str = "homeassistant", *, days: int = HA_CLIENT_DAYS
    ) -> IssuedCredential:
        """Home Assistant's own clientAuth certificate for a certificate-only listener."""
        validate_common_name(name)
        ca_key, ca_cert = self._ca_key(passphrase), self.ca_certificate()
        key = generate_key("ec")

        def build(serial: int) -> x509.Certificate:
            return profiles.build_client(ca_key, ca_cert, key, name, serial, days, utcnow())

        current = (HA_CLIENT_CERT, HA_CLIENT_KEY, key, passphrase)
        cert, entry = self._issue(build, "ha_client", current)
        return IssuedCredential(entry, key, cert)

    def renew_device(
        self, passphrase: str, name_or_serial: str, **kwargs: object
    ) -> IssuedCredential:
        """A new key and certificate for the same device; the old one stays valid until revoked."""
        old = self.find(name_or_serial)
        if old.kind not in ("device", "imported"):
            raise PkiError(
                f"{old.cn} is a {old.kind} certificate, not a device.", code="not_device"
            )
        return self.issue_device(passphrase, old.cn, topic=old.topic, **kwargs)  # type: ignore[arg-type]

    def _issue(
        self,
        build: Callable[[int], x509.Certificate],
        kind: Kind,
        current: tuple[str, str, PrivateKey, str],
    ) -> tuple[x509.Certificate, IndexEntry]:
        """Sign under the lock with a fresh serial; keep it as the current cert of its kind."""
        with self._mutation():
            index = self._index()
            cert = build(profiles.new_serial(index.used_serials))
            entry = _entry_for(cert, kind)
            cert_name, key_name, key, passphrase = current
            atomic_write(self.directory / key_name, encrypt_key(key, passphrase), KEY_MODE)
            atomic_write(self.directory / cert_name, cert.public_bytes(serialization.Encoding.PEM))
            index.add(entry, cert.public_bytes(serialization.Encoding.DER))
            self._save(index)
        return cert, entry

    # ---- revoking ------------------------------------------------------------
    def revoke(
        self, passphrase: str, serial_or_name: str, reason: str = "unspecified"
    ) -> IndexEntry:
        """Mark a certificate revoked and write a new CRL."""
        reason = profiles.normalize_reason(reason)
        ca_key = self._ca_key(passphrase)
        with self._mutation():
            index = self._index()
            entry = _find_in(index, serial_or_name)
            if entry.kind == "ca":
                raise PkiError("The CA cannot revoke itself.", code="invalid_target")
            if entry.status == "revoked":
                raise PkiError(
                    f"{entry.cn} ({entry.serial}) is already revoked.", code="already_revoked"
                )
            revoked = entry.revoked(utcnow(), reason)
            index.replace_entry(entry, revoked)
            self._write_crl(index, ca_key, CRL_DAYS)
            self._save(index)
        return revoked

    def generate_crl(self, passphrase: str, days: int = CRL_DAYS) -> x509.CertificateRevocationList:
        """A fresh CRL; write it well before the old one's nextUpdate."""
        ca_key = self._ca_key(passphrase)
        with self._mutation():
            index = self._index()
            crl = self._write_crl(index, ca_key, days)
            self._save(index)
        return crl

    def _write_crl(
        self, index: Index, ca_key: PrivateKey, days: int
    ) -> x509.CertificateRevocationList:
        index.crl_number += 1
        revoked = [
            (e.serial_int, e.revoked_at or utcnow(), e.reason or "unspecified")
            for e in index.entries
            if e.status == "revoked"
        ]
        crl = profiles.build_crl(
            ca_key, self.ca_certificate(), revoked, index.crl_number, days, utcnow()
        )
        atomic_write(self.directory / CRL, crl.public_bytes(serialization.Encoding.PEM))
        return crl

    # ---- internals -----------------------------------------------------------
    def _ca_key(self, passphrase: str) -> PrivateKey:
        self._require()
        digest = hashlib.sha256(self._salt + passphrase.encode()).digest()
        if digest not in self._unlocked:
            key = decrypt_key((self.directory / CA_KEY).read_bytes(), passphrase)
            self._unlocked[digest] = key
        return self._unlocked[digest]

    def _remember(self, passphrase: str, key: PrivateKey) -> None:
        self._unlocked[hashlib.sha256(self._salt + passphrase.encode()).digest()] = key

    def forget_passphrases(self) -> None:
        """Drop unlocked keys from memory (attended custody)."""
        self._unlocked.clear()

    def _index(self) -> Index:
        """The index, re-read only when the file changed (another process may write it)."""
        path = self.directory / INDEX
        signature = file_signature(path)
        if self._cached is None or self._cached[0] != signature:
            self._cached = (signature, Index.load(path))
        return self._cached[1]

    def _save(self, index: Index) -> None:
        path = self.directory / INDEX
        index.save(path)
        self._cached = (file_signature(path), index)

    def _refuse_existing(self) -> None:
        if self.exists:
            raise PkiError(
                f"{self.directory} already holds a CA; nothing was changed.", code="store_exists"
            )

    def _lock_file(self) -> IO[bytes]:
        """The store's lock file; a full or read-only disk is reported, not raised raw."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return open(self.directory / LOCK, "ab")  # closed by the caller's with-block
        except OSError as err:
            raise PkiError(
                f"Cannot change the store in {self.directory}: {err.strerror or err}. "
                "Nothing was changed; make the folder writable or free some space.",
                code="write_failed",
            ) from err

    @contextlib.contextmanager
    def _mutation(self, *, creating: bool = False) -> Iterator[None]:
        if creating:
            self._refuse_existing()
        with self._thread_lock, self._lock_file() as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if creating:
                    self._refuse_existing()
                yield
            except BaseException:
                self._cached = None  # the in-memory index may hold what was not saved
                raise
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _check_free_text(cn: str) -> None:
    if not cn.strip() or len(cn) > 64:
        raise PkiError("A CA name must have 1 to 64 characters.", code="invalid_name")


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as err:
        raise PkiError(f"{path} is not a PEM certificate.", code="store_corrupt") from err


def _entry_for(
    cert: x509.Certificate, kind: Kind, topic: str | None = None, mac: str | None = None
) -> IndexEntry:
    return IndexEntry(
        serial=f"{cert.serial_number:x}",
        cn=easyrsa.common_name(cert.subject),
        kind=kind,
        not_before=dates.not_before(cert),
        not_after=dates.not_after(cert),
        topic=topic,
        mac=mac,
    )


def _find_in(index: Index, serial_or_name: str) -> IndexEntry:
    wanted = serial_or_name.lower().removeprefix("0x").lstrip("0") or "0"
    for entry in index.entries:
        if entry.serial == wanted:
            return entry
    named = [e for e in index.entries if e.cn == serial_or_name and e.status == "valid"]
    if not named:
        raise NotFoundError(f"No valid certificate named or numbered {serial_or_name!r}.")
    return max(named, key=lambda e: e.not_after)
