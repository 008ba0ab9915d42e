"""The PKI store: one folder holding the CA, its index, the broker certificate and the CRL.

Layout (folder 0700; keys 0600, the rest 0644):
    ca.crt, ca.key (PKCS#8, AES-256, passphrase), index.json (entries and their
    certificates, the CRL number), broker.pair and ha-client.pair (each a certificate
    with its encrypted key, in one file), broker-next.key (a staged key during a broker
    key rotation), crl.pem

Every change takes an exclusive lock and replaces files atomically, the index first:
a crash never leaves a half-written store, a serial is never handed out twice and a
CRL number is never used twice. A store others could write to is refused on load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import broker_keys, easyrsa, profiles, revocation, storefs
from .credentials import DeviceRequest, IssuedCredential, entry_for
from .device_signing import BulkSigner, Job, sign_device
from .errors import NotFoundError, PkiError
from .fsutil import KEY_MODE, atomic_write
from .index import Index, IndexEntry, Kind, file_signature, find_in
from .keys import KeyAlgorithm, PrivateKey, decrypt_key, encrypt_key, generate_key
from .limits import BROKER_DAYS, CA_DAYS, CRL_DAYS, DEVICE_DAYS, HA_CLIENT_DAYS
from .names import validate_common_name
from .tlskey import payloads_for_scalar

__all__ = ["DeviceRequest", "IssuedCredential", "PkiStore", "utcnow"]

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
INDEX = "index.json"
BROKER_CERT = "broker.crt"
BROKER_KEY = "broker.key"
HA_CLIENT_CERT = "ha-client.crt"
HA_CLIENT_KEY = "ha-client.key"
BROKER_PAIR = "broker.pair"
HA_CLIENT_PAIR = "ha-client.pair"
BROKER_NEXT_KEY = "broker-next.key"
CRL = "crl.pem"
LOCK = ".lock"
PAIR_FILES: dict[str, tuple[str, str, str]] = {  # the pair file, then an older store's two
    "broker": (BROKER_PAIR, BROKER_CERT, BROKER_KEY),
    "ha_client": (HA_CLIENT_PAIR, HA_CLIENT_CERT, HA_CLIENT_KEY),
}
# Checked for group/world write access on every load.
STORE_FILES = (CA_CERT, CA_KEY, INDEX, BROKER_PAIR, HA_CLIENT_PAIR, BROKER_NEXT_KEY, CRL, LOCK)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PkiStore:
    """A CA and everything it issued, in one folder."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._thread_lock = threading.RLock()
        self._unlocked: dict[bytes, PrivateKey] = {}
        self._salt = os.urandom(16)
        self._cached: tuple[tuple[int, int, int], Index] | None = None
        self._ca_checked: object = None

    # ---- reading -------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return (self.directory / CA_CERT).is_file() and (self.directory / INDEX).is_file()

    def _require(self) -> None:
        """The store exists, only we can change it, and ca.crt is the CA of its index."""
        if not self.exists:
            raise PkiError(
                f"No CA in {self.directory}. Create one with `init` or import one first.",
                code="no_store",
            )
        storefs.check_private(self.directory, STORE_FILES)
        signature = (
            file_signature(self.directory / CA_CERT),
            file_signature(self.directory / INDEX),
        )
        if signature != self._ca_checked:
            storefs.check_ca(_load_cert(self.directory / CA_CERT), self._index(), CA_CERT)
            self._ca_checked = signature

    def ca_certificate(self) -> x509.Certificate:
        self._require()
        return _load_cert(self.directory / CA_CERT)

    def entries(self) -> list[IndexEntry]:
        self._require()
        return list(self._index().entries)

    def find(self, serial_or_name: str) -> IndexEntry:
        """An entry by serial (hex), or the newest valid one with that CN."""
        self._require()
        return find_in(self._index(), serial_or_name)

    def certificate(self, entry: IndexEntry) -> x509.Certificate:
        der = self._index().certificates.get(entry.serial)
        if der is None:
            raise NotFoundError(f"The certificate of {entry.cn} ({entry.serial}) is not stored.")
        return x509.load_der_x509_certificate(der)

    def _pair(self, kind: Kind) -> storefs.PairFile | None:
        self._require()
        names = PAIR_FILES[kind]
        return storefs.read_pair(*(self.directory / name for name in names))

    def broker_certificate(self) -> x509.Certificate | None:
        """The broker certificate the store issued last (None before `broker HOST`)."""
        pair = self._pair("broker")
        return pair.certificate if pair else None

    def current_broker_certificate(self) -> x509.Certificate | None:
        """The store's broker certificate, else the newest valid one imported (Easy-RSA)."""
        return broker_keys.current_or_imported(self)

    def broker_key(self, passphrase: str) -> PrivateKey:
        return self._pair_key("broker", passphrase)

    def ha_client_certificate(self) -> x509.Certificate | None:
        pair = self._pair("ha_client")
        return pair.certificate if pair else None

    def ha_client_key(self, passphrase: str) -> PrivateKey:
        return self._pair_key("ha_client", passphrase)

    def _pair_key(self, kind: Kind, passphrase: str, *, check: bool = True) -> PrivateKey:
        """The pair's key, unlocked; refused when it does not belong to the certificate."""
        return broker_keys.pair_key(self, kind, passphrase, check=check)

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
        """A new CA: RSA-2048 unless asked for EC (devices in CA mode then need SetOption165 1)."""
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
        index.add(entry_for(cert, kind), cert.public_bytes(serialization.Encoding.DER), first=True)
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
        self,
        passphrase: str,
        requests: Sequence[DeviceRequest],
        *,
        bulk_signer: BulkSigner | None = None,
    ) -> list[IssuedCredential]:
        """Many devices in one locked step and one index write; all or nothing.

        Every request is checked (name, size guard) before anything is recorded.
        ``bulk_signer`` signs many at once: the command line passes one that forks, never
        a threaded program such as Home Assistant (it signs in this thread).
        """
        for request in requests:
            validate_common_name(request.name)
        ca_key, ca_cert = self._ca_key(passphrase), self.ca_certificate()
        issued: list[IssuedCredential] = []
        with self._mutation():
            index = self._index()
            used = set(index.used_serials)
            now = utcnow()
            jobs: list[Job] = []
            for request in requests:
                serial = profiles.new_serial(used)
                used.add(serial)
                jobs.append((request.name, request.dn_mode, request.org, request.days, serial, now))
            signed: Iterable[tuple[bytes, bytes]]
            if bulk_signer is not None and len(jobs) > 1:
                ca_key_pem = (self.directory / CA_KEY).read_bytes()
                signed = bulk_signer(ca_key_pem, passphrase, ca_cert, jobs)
            else:
                signed = (sign_device(ca_key, ca_cert, job) for job in jobs)
            for request, (scalar, der) in zip(requests, signed, strict=True):
                cert = x509.load_der_x509_certificate(der)
                payloads = payloads_for_scalar(scalar, der, request.resolved_command_topic)
                entry = entry_for(cert, "device", topic=request.resolved_topic, mac=request.mac)
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
        keep_key: bool = False,
    ) -> IssuedCredential:
        """A server certificate for the MqttHost; it becomes the current one.

        ``keep_key`` signs it for the current broker key, so every MqttFingerprint stays
        valid (what `tasmota-tls broker` and renew_broker do); otherwise, and for a first
        broker, the key is a new RSA-2048 one. A new key for a broker that devices pin is
        a rotation: see broker_keys.
        """
        return broker_keys.issue(self, passphrase, host, list(extra_names), days, keep_key)

    def renew_broker(self, passphrase: str, *, days: int = BROKER_DAYS) -> IssuedCredential:
        """The current broker certificate again: same names, same key, new dates."""
        return broker_keys.renew(self, passphrase, days)

    def issue_ha_client(
        self, passphrase: str, name: str = "homeassistant", *, days: int = HA_CLIENT_DAYS
    ) -> IssuedCredential:
        """Home Assistant's own clientAuth certificate for a certificate-only listener."""
        return broker_keys.issue_ha_client(self, passphrase, name, days)

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

    # ---- revoking ------------------------------------------------------------
    def revoke(
        self, passphrase: str, serial_or_name: str, reason: str = "unspecified"
    ) -> IndexEntry:
        """Mark a certificate revoked and write a new CRL."""
        return revocation.revoke_many(self, passphrase, [serial_or_name], reason)[0]

    def revoke_many(
        self, passphrase: str, serials_or_names: Sequence[str], reason: str = "unspecified"
    ) -> list[IndexEntry]:
        """Revoke several certificates with one index write and one new CRL."""
        return revocation.revoke_many(self, passphrase, serials_or_names, reason)

    def generate_crl(self, passphrase: str, days: int = CRL_DAYS) -> x509.CertificateRevocationList:
        """A fresh CRL; write it well before the old one's nextUpdate."""
        return revocation.generate_crl(self, passphrase, days)

    # ---- internals -----------------------------------------------------------
    def _ca_key(self, passphrase: str) -> PrivateKey:
        self._require()
        digest = hashlib.sha256(self._salt + passphrase.encode()).digest()
        if digest not in self._unlocked:
            key = decrypt_key((self.directory / CA_KEY).read_bytes(), passphrase)
            storefs.check_match(key, self.ca_certificate(), "CA")
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

    def _lock_file(self, creating: bool) -> IO[bytes]:
        """The store's lock file; a full or read-only disk is reported, not raised raw."""
        try:
            if creating:
                storefs.make_private_dir(self.directory)
            return storefs.open_lock(self.directory)  # closed by the caller's with-block
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
        with self._thread_lock, self._lock_file(creating) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if creating:
                    self._refuse_existing()
                storefs.remove_leftovers(self.directory)
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
