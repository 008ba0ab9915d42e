"""The broker's key and certificate over time: renewal keeps the key, rotation is staged.

Devices in fingerprint mode pin the broker's PUBLIC KEY (MqttFingerprint1/2), not its
certificate. So a renewal signs a new certificate for the same key and breaks nothing.
A new key is a rotation in three steps, each safe to repeat:
  1. stage:  a new key is made and kept as broker-next.key; every device gets its
             fingerprint as MqttFingerprint2 (the device accepts either slot);
  2. switch: the broker certificate is re-issued for the staged key (same names); the
             broker serves it after the bundle is installed and the broker restarted;
  3. retire: devices get the new fingerprint as MqttFingerprint1 too, and the broker
             certificates of the old key are revoked (superseded).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import profiles, revocation, storefs
from .credentials import IssuedCredential, entry_for
from .dates import utcnow
from .errors import NotFoundError, PkiError
from .fsutil import KEY_MODE, atomic_write
from .index import IndexEntry, Kind
from .keys import PrivateKey, decrypt_key, encrypt_key, generate_key
from .names import validate_common_name
from .store_base import BROKER_NEXT_KEY, PAIR_FILES, StoreBase
from .x509_names import common_name


def issue_pair(
    store: StoreBase,
    build: Callable[[int], x509.Certificate],
    kind: Kind,
    key: PrivateKey,
    passphrase: str,
    after: Callable[[], None] | None = None,
) -> tuple[x509.Certificate, IndexEntry]:
    """Sign under the lock with a fresh serial; keep it as the current pair of its kind.

    The index is saved first, so the serial is recorded whatever happens next; the pair
    file is then replaced in one step. A crash in between leaves the old pair, whole.
    """
    key_pem = encrypt_key(key, passphrase)
    with store._mutation():
        index = store._index()
        cert = build(profiles.new_serial(index.used_serials))
        entry = entry_for(cert, kind)
        index.add(entry, cert.public_bytes(serialization.Encoding.DER))
        store._save(index)
        pair, *legacy = PAIR_FILES[kind]
        storefs.write_pair(store.directory / pair, cert, key_pem)
        for name in legacy:  # an older store's two files: the pair file replaces them
            with contextlib.suppress(FileNotFoundError):
                (store.directory / name).unlink()
        if after is not None:
            after()
    return cert, entry


def current_or_imported(store: StoreBase) -> x509.Certificate | None:
    """The store's broker certificate, else the newest valid one imported (Easy-RSA)."""
    if (cert := store.broker_certificate()) is not None:
        return cert
    now = utcnow()
    valid = [e for e in store.entries() if e.kind == "broker" and e.current_status(now) == "valid"]
    for entry in sorted(valid, key=lambda e: e.not_before or e.not_after, reverse=True):
        if entry.serial in store._index().certificates:
            return store.certificate(entry)
    return None


def issue(
    store: StoreBase, passphrase: str, host: str, extra: list[str], days: int, keep_key: bool
) -> IssuedCredential:
    """The broker certificate for ``host``: with the current key if ``keep_key``."""
    store._ca_key(passphrase)  # a wrong passphrase is reported before anything else
    key: PrivateKey | None = None
    if keep_key and store.broker_certificate() is not None:
        # Unchecked on purpose: an older store whose two files a crash left mismatched
        # is mended here, the key getting a certificate of its own.
        key = store._pair_key("broker", passphrase, check=False)
    if key is None:
        key = generate_key("rsa")
    return _issue_broker(store, passphrase, key, host, extra, days)


def renew(store: StoreBase, passphrase: str, days: int) -> IssuedCredential:
    """The current broker certificate again: same names, same key."""
    host, extra = _names(_current(store))
    return issue(store, passphrase, host, extra, days, keep_key=True)


def staged_key(store: StoreBase, passphrase: str) -> PrivateKey | None:
    """The key staged by `stage`, if it is still to be switched to."""
    path = store.directory / BROKER_NEXT_KEY
    if not path.is_file():
        return None
    key = decrypt_key(path.read_bytes(), passphrase, what="staged broker key")
    current = store.broker_certificate()
    if current is not None and storefs.public_der(key) == storefs.public_der(current):
        return None  # switched already (a crash came before the staged file was removed)
    return key


def stage(store: StoreBase, passphrase: str, *, restage: bool = False) -> tuple[PrivateKey, bool]:
    """The next broker key, made once: repeating `stage` gives the same key (and fingerprint).

    Returns (key, whether it was made now). ``restage`` replaces a staged key, for when
    it may have leaked; devices staged with the old one must then be staged again.
    """
    _current(store)
    store._ca_key(passphrase)  # the same passphrase protects every key of the store
    if not restage and (key := staged_key(store, passphrase)) is not None:
        return key, False
    key = generate_key("rsa")
    with store._mutation():
        atomic_write(store.directory / BROKER_NEXT_KEY, encrypt_key(key, passphrase), KEY_MODE)
    return key, True


def switch(store: StoreBase, passphrase: str, days: int) -> IssuedCredential:
    """Re-issue the broker certificate for the staged key; the staged file goes after."""
    host, extra = _names(_current(store))
    key = staged_key(store, passphrase)
    if key is None:
        raise PkiError(
            "No broker key is staged: run `rotate-broker stage` first and give every device "
            "its MqttFingerprint2.",
            code="no_staged_key",
        )

    def drop_staged() -> None:
        with contextlib.suppress(FileNotFoundError):
            (store.directory / BROKER_NEXT_KEY).unlink()

    return _issue_broker(store, passphrase, key, host, extra, days, after=drop_staged)


def retired_entries(store: StoreBase) -> list[IndexEntry]:
    """Valid broker certificates whose key is not the current broker key."""
    current = storefs.public_der(_current(store))
    now = utcnow()
    old = []
    for entry in store.entries():
        if entry.kind != "broker" or entry.current_status(now) != "valid":
            continue
        known = entry.serial in store._index().certificates
        if known and storefs.public_der(store.certificate(entry)) != current:
            old.append(entry)
    return old


def retire(store: StoreBase, passphrase: str) -> list[IndexEntry]:
    """Revoke (superseded) the broker certificates of every old key, in one CRL."""
    old = retired_entries(store)
    if not old:
        return []
    return revocation.revoke_many(store, passphrase, [e.serial for e in old], "superseded")


def issue_ha_client(store: StoreBase, passphrase: str, name: str, days: int) -> IssuedCredential:
    validate_common_name(name)
    ca_key, ca_cert = store._ca_key(passphrase), store.ca_certificate()
    key = generate_key("ec")

    def build(serial: int) -> x509.Certificate:
        return profiles.build_client(ca_key, ca_cert, key, name, serial, days, utcnow())

    cert, entry = issue_pair(store, build, "ha_client", key, passphrase)
    return IssuedCredential(entry, key, cert)


def _issue_broker(
    store: StoreBase,
    passphrase: str,
    key: PrivateKey,
    host: str,
    extra: list[str],
    days: int,
    after: Callable[[], None] | None = None,
) -> IssuedCredential:
    ca_key, ca_cert = store._ca_key(passphrase), store.ca_certificate()

    def build(serial: int) -> x509.Certificate:
        return profiles.build_broker(ca_key, ca_cert, key, host, extra, serial, days, utcnow())

    cert, entry = issue_pair(store, build, "broker", key, passphrase, after)
    return IssuedCredential(entry, key, cert)


def _current(store: StoreBase) -> x509.Certificate:
    cert = store.broker_certificate()
    if cert is None:
        raise NotFoundError(
            "The store has no broker certificate yet: run `broker HOST` first.",
            code="no_broker_certificate",
        )
    return cert


def _names(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(host, extra names) as `broker HOST --san ...` was given them."""
    host = common_name(cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return host, []
    names = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    names += san.get_values_for_type(x509.DNSName)
    return host, [name for name in dict.fromkeys(names) if name != host]
