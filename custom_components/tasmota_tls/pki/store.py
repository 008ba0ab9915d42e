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

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import broker_keys, easyrsa, profiles, revocation
from .credentials import DeviceRequest, IssuedCredential, entry_for
from .dates import utcnow
from .device_signing import BulkSigner, Job, sign_device
from .errors import PkiError
from .fsutil import KEY_MODE, atomic_write
from .index import Index, IndexEntry, Kind
from .keys import KeyAlgorithm, encrypt_key, generate_key
from .limits import BROKER_DAYS, CA_DAYS, CRL_DAYS, DEVICE_DAYS, HA_CLIENT_DAYS
from .names import validate_common_name
from .store_base import CA_CERT, CA_KEY, INDEX, StoreBase
from .tlskey import payloads_for_scalar

__all__ = ["DeviceRequest", "IssuedCredential", "PkiStore", "utcnow"]


class PkiStore(StoreBase):
    """A CA and everything it issued, in one folder."""

    # ---- reading -------------------------------------------------------------
    def current_broker_certificate(self) -> x509.Certificate | None:
        """The store's broker certificate, else the newest valid one imported (Easy-RSA)."""
        return broker_keys.current_or_imported(self)

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


def _check_free_text(cn: str) -> None:
    if not cn.strip() or len(cn) > 64:
        raise PkiError("A CA name must have 1 to 64 characters.", code="invalid_name")
