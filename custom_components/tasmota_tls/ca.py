"""The entry's certificate authority, seen from Home Assistant.

Every call into the PKI core does crypto or file I/O, so each one runs in the
executor. The event loop only ever sees the immutable :class:`CaSnapshot`.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from homeassistant.core import HomeAssistant

from .const import CRL_DAYS, DEVICE_CERT_DAYS, EXPORT_DIR, STORAGE_DIR
from .pki import IndexEntry, IssuedCredential, PkiError, PkiStore, tasmota_fingerprint
from .pki.fingerprint import has_fingerprint
from .pki.limits import BROKER_DAYS
from .pki.x509_names import certificate_names, common_name

_LOGGER = logging.getLogger(__name__)


def store_directory(hass: HomeAssistant, store_id: str) -> Path:
    """Where one entry's CA, index and issued certificates are kept."""
    return Path(hass.config.path(STORAGE_DIR, store_id))


def bundle_directory(hass: HomeAssistant, entry_id: str) -> Path:
    """Where the export_broker_bundle action writes the Mosquitto files."""
    return Path(hass.config.path(EXPORT_DIR, entry_id, "broker"))


def refresh_exported_crl(store: PkiStore, bundle_dir: Path) -> list[Path]:
    """Copy the store's CRL over each CRL an earlier bundle export wrote.

    A revocation counts at the broker only once it reads the new CRL; this keeps
    the exported files current so a broker reload is all that is left to do.
    """
    from .broker.mosquitto import LAYOUT_PATHS  # noqa: PLC0415
    from .pki.fsutil import atomic_write  # noqa: PLC0415

    crl = store.directory / "crl.pem"
    if not crl.is_file():
        return []
    data = crl.read_bytes()
    refreshed = []
    for paths in LAYOUT_PATHS.values():
        target = bundle_dir / paths.crl
        if target.is_file() and target.read_bytes() != data:
            atomic_write(target, data)
            refreshed.append(target)
    return refreshed


def ca_unique_id(certificate: x509.Certificate) -> str:
    """The config entry's unique ID: the SHA-256 of the CA certificate."""
    return certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class CaIdentity:
    """What the config flow needs to know about a CA certificate."""

    unique_id: str
    name: str


def _identity(certificate: x509.Certificate) -> CaIdentity:
    return CaIdentity(ca_unique_id(certificate), common_name(certificate))


def identify_certificate_pem(pem: bytes) -> CaIdentity:
    """Parse a PEM CA certificate (raises ValueError when there is none)."""
    return _identity(x509.load_pem_x509_certificate(pem))


def identify_easyrsa_ca(pki_dir: Path) -> CaIdentity:
    """The CA of an Easy-RSA ``pki/`` directory (raises OSError/ValueError)."""
    return identify_certificate_pem((pki_dir / "ca.crt").read_bytes())


def create_ca(directory: Path, passphrase: str, name: str, algorithm: str) -> CaIdentity:
    """A new CA in ``directory``."""
    store = PkiStore(directory)
    return _identity(store.init_ca(passphrase, name, algo=algorithm))  # type: ignore[arg-type]


def remove_store(directory: Path) -> None:
    """Delete a store that was never attached to an entry (an abandoned flow)."""
    shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class CaSnapshot:
    """What the CA looks like right now; safe to read from the event loop."""

    ca_name: str
    ca_not_after: dt.datetime
    broker_not_after: dt.datetime | None
    broker_fingerprint: str | None
    broker_names: tuple[str, ...]
    previous_broker_fingerprint: str | None
    crl_next_update: dt.datetime | None
    entries: tuple[IndexEntry, ...] = field(default_factory=tuple)
    # The store holds the broker's key (it issued the pair): only then can it renew it.
    broker_key_in_store: bool = False

    @cached_property
    def _newest_by_device(self) -> dict[str, IndexEntry]:
        """The newest certificate per device name, built once per snapshot (one pass)."""
        newest: dict[str, IndexEntry] = {}
        for entry in self.entries:
            if entry.kind != "device":
                continue
            known = newest.get(entry.cn)
            if known is None or _issued_order(entry) > _issued_order(known):
                newest[entry.cn] = entry
        return newest

    def device_entry(self, name: str) -> IndexEntry | None:
        """The newest certificate issued to a device name (any status).

        For counting and the broker's ACL only: a name never links a certificate to a
        device (see ownership.py).
        """
        return self._newest_by_device.get(name)

    @cached_property
    def by_serial(self) -> dict[str, IndexEntry]:
        """Every entry by serial, built once per snapshot."""
        return {entry.serial: entry for entry in self.entries}

    @cached_property
    def _newest_by_mac(self) -> dict[str, IndexEntry]:
        """The newest device certificate the index binds to each MAC."""
        newest: dict[str, IndexEntry] = {}
        for entry in self.entries:
            if entry.kind != "device" or entry.mac is None:
                continue
            known = newest.get(entry.mac)
            if known is None or _issued_order(entry) > _issued_order(known):
                newest[entry.mac] = entry
        return newest

    def newest_for_mac(self, mac: str) -> IndexEntry | None:
        """The newest certificate issued for ``mac`` (by the MAC in the index)."""
        return self._newest_by_mac.get(mac)

    def valid_device_entries(self, now: dt.datetime) -> list[IndexEntry]:
        """Newest certificate per device name, where that one is still valid."""
        return [e for e in self._newest_by_device.values() if e.current_status(now) == "valid"]


def _issued_order(entry: IndexEntry) -> tuple[dt.datetime, dt.datetime]:
    return (entry.not_before or entry.not_after, entry.not_after)


def _valid_broker_certificates(store: PkiStore) -> list[x509.Certificate]:
    """Valid broker certificates in the index, newest first."""
    now = dt.datetime.now(dt.UTC)
    entries = [
        e for e in store.entries() if e.kind == "broker" and e.current_status(now) == "valid"
    ]
    certificates = []
    for entry in sorted(entries, key=lambda e: e.not_before or e.not_after, reverse=True):
        try:
            certificates.append(store.certificate(entry))
        except (OSError, PkiError):
            continue
    return certificates


def _fingerprint(certificate: x509.Certificate) -> str | None:
    """MqttFingerprint1 for an RSA key; None for an EC key, which no device can pin."""
    return tasmota_fingerprint(certificate) if has_fingerprint(certificate) else None


def _broker_pair(store: PkiStore) -> tuple[x509.Certificate | None, str | None]:
    """The current broker certificate and, during a key rotation, the previous key's fingerprint.

    The current one is what the store issued last (broker.crt), else the newest valid
    one imported from Easy-RSA. A still-valid older certificate with another key is
    what the broker may serve until it reloads: devices get it as MqttFingerprint2.
    An EC key has no fingerprint, so it is never offered as either.
    """
    others = _valid_broker_certificates(store)
    current = store.broker_certificate() or (others[0] if others else None)
    if current is None:
        return None, None
    fingerprint = _fingerprint(current)
    if fingerprint is None:
        return current, None  # nothing pinned now, so no second slot to fill
    for certificate in others:
        previous = _fingerprint(certificate)
        if previous is not None and previous != fingerprint:
            return current, previous
    return current, None


def _snapshot(store: PkiStore) -> CaSnapshot:
    ca = store.ca_certificate()
    broker, previous_fingerprint = _broker_pair(store)
    crl = store.crl()
    return CaSnapshot(
        ca_name=common_name(ca),
        ca_not_after=ca.not_valid_after_utc,
        broker_not_after=broker.not_valid_after_utc if broker is not None else None,
        broker_fingerprint=_fingerprint(broker) if broker is not None else None,
        broker_names=certificate_names(broker) if broker is not None else (),
        previous_broker_fingerprint=previous_fingerprint,
        crl_next_update=crl.next_update_utc if crl is not None else None,
        entries=tuple(store.entries()),
        broker_key_in_store=store.broker_certificate() is not None,
    )


class CertificateAuthority:
    """One entry's PkiStore, driven from the executor."""

    def __init__(
        self, hass: HomeAssistant, directory: Path, bundle_dir: Path | None = None
    ) -> None:
        """Wrap the store in ``directory`` (nothing is read yet)."""
        self._hass = hass
        self.directory = directory
        self.bundle_dir = bundle_dir
        self.store = PkiStore(directory)
        self.snapshot: CaSnapshot | None = None

    async def _run[T](self, func: Callable[..., T], *args: Any) -> T:
        return await self._hass.async_add_executor_job(func, *args)

    async def async_refresh(self) -> CaSnapshot:
        """Re-read the CA, broker certificate, CRL and index."""
        self.snapshot = await self._run(_snapshot, self.store)
        return self.snapshot

    async def async_check_passphrase(self, passphrase: str) -> None:
        """Raise WrongPassphraseError unless ``passphrase`` opens the CA key."""
        await self._run(self.store.check_passphrase, passphrase)

    async def async_issue_device(
        self, passphrase: str, name: str, topic: str, command_topic: str, mac: str
    ) -> IssuedCredential:
        """Issue a device key and certificate for ``mac`` (the size guard runs first)."""

        def issue() -> IssuedCredential:
            return self.store.issue_device(
                passphrase,
                name,
                topic=topic,
                command_topic=command_topic,
                days=DEVICE_CERT_DAYS,
                mac=mac,
            )

        credential = await self._run(issue)
        await self._async_refresh_entries()
        return credential

    async def _async_refresh_entries(self) -> None:
        """After a device's issuance: only the index changed, the rest of the snapshot stays.

        Re-reading the CA, the broker certificate and the CRL for each of a fleet's
        issuances cost as much as the issuance itself.
        """
        if self.snapshot is None:
            await self.async_refresh()
            return
        entries = await self._run(self.store.entries)
        self.snapshot = replace(self.snapshot, entries=tuple(entries))

    async def async_revoke(self, passphrase: str, serial: str, reason: str) -> IndexEntry:
        """Revoke one certificate; the store writes the new CRL with it (one CRL number)."""
        entry = await self._run(self.store.revoke, passphrase, serial, reason)
        await self.async_refresh()
        return entry

    async def async_generate_crl(self, passphrase: str) -> None:
        """Sign a new CRL (written to crl.pem in the store)."""

        def generate() -> None:
            self.store.generate_crl(passphrase, days=CRL_DAYS)
            self._refresh_bundle()

        await self._run(generate)
        await self.async_refresh()

    def _refresh_bundle(self) -> None:
        if self.bundle_dir is not None:
            for path in refresh_exported_crl(self.store, self.bundle_dir):
                _LOGGER.info("Updated %s; reload the broker to apply it", path)

    async def async_ca_certificate(self) -> x509.Certificate:
        """The CA certificate (read from disk in the executor)."""
        return await self._run(self.store.ca_certificate)

    async def async_renew_broker(self, passphrase: str) -> x509.Certificate:
        """Re-issue the broker certificate for the SAME key and names: every pin holds."""
        credential = await self._run(lambda: self.store.renew_broker(passphrase))
        await self.async_refresh()
        return credential.certificate

    async def async_stage_broker_key(self, passphrase: str) -> str | None:
        """Make (once) the next broker key of a rotation; its fingerprint, for MqttFingerprint2.

        None when the store holds no broker key of its own yet: its first one is new anyway.
        """
        from .pki import broker_keys  # noqa: PLC0415

        def stage() -> str | None:
            if self.store.broker_certificate() is None:
                return None
            key, _made = broker_keys.stage(self.store, passphrase)
            return tasmota_fingerprint(key.public_key())

        return await self._run(stage)

    async def async_write_broker_bundle(
        self,
        passphrase: str,
        host: str,
        out_dir: Path,
        *,
        port: int,
        layout: str,
        devices: list[Any],
        renew_before: dt.timedelta,
        deny: tuple[str, ...] = (),
        rotate: bool = False,
    ) -> tuple[Any, bool]:
        """Write the Mosquitto bundle; issue a broker certificate first when needed.

        A broker certificate is issued when there is none, when it does not name
        ``host``, or when it expires within ``renew_before``: for the SAME key, so
        devices pinned by fingerprint keep working. A new key comes only with the
        store's first broker certificate, or with ``rotate`` after
        :meth:`async_stage_broker_key` (devices got its fingerprint first). Returns the
        bundle result and whether the broker key changed.
        """
        from .broker.mosquitto import write_bundle  # noqa: PLC0415
        from .pki import broker_keys  # noqa: PLC0415

        def write() -> tuple[Any, bool]:
            broker = self.store.broker_certificate()
            new_key = broker is None
            if broker is None:
                broker = self.store.issue_broker(passphrase, host).certificate
            elif rotate and broker_keys.staged_key(self.store, passphrase) is not None:
                broker = broker_keys.switch(self.store, passphrase, BROKER_DAYS).certificate
                new_key = True
            if (
                host.lower() not in certificate_names(broker)
                or broker.not_valid_after_utc - dt.datetime.now(dt.UTC) < renew_before
            ):
                self.store.issue_broker(passphrase, host, keep_key=True)
            result = write_bundle(
                self.store,
                passphrase,
                out_dir,
                port=port,
                layout=layout,  # type: ignore[arg-type]
                devices=devices,
                deny=deny,
                leave_out=True,  # one bad device never stops the others' ACL or the CRL
            )
            self._refresh_bundle()  # the CRL copies an earlier export of another layout left
            return result, new_key

        outcome = await self._run(write)
        await self.async_refresh()
        return outcome
