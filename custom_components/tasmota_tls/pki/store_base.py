"""The store's folder: its files, its lock, its index, and the CA key unlocked.

What every operation on the store needs, and nothing that issues or revokes: the
modules that do (store, broker_keys, revocation) all build on this one, so none of
them has to import another to reach the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography import x509

from . import storefs
from .errors import NotFoundError, PkiError
from .index import Index, IndexEntry, Kind, file_signature, find_in
from .keys import PrivateKey, decrypt_key

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


class StoreBase:
    """A CA's folder, read and locked; PkiStore adds issuing and revoking."""

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

    def broker_key(self, passphrase: str) -> PrivateKey:
        return self._pair_key("broker", passphrase)

    def ha_client_certificate(self) -> x509.Certificate | None:
        pair = self._pair("ha_client")
        return pair.certificate if pair else None

    def ha_client_key(self, passphrase: str) -> PrivateKey:
        return self._pair_key("ha_client", passphrase)

    def _pair_key(self, kind: Kind, passphrase: str, *, check: bool = True) -> PrivateKey:
        """The pair's key, unlocked; refused (``check``) when it is not the certificate's."""
        pair = self._pair(kind)
        what = kind.replace("_", "-")
        if pair is None:
            raise NotFoundError(f"The store has no {what} certificate yet.", code="no_" + kind)
        key = decrypt_key(pair.key_pem, passphrase, what=f"{what} key")
        if check:
            storefs.check_match(key, pair.certificate, what)
        return key

    def crl(self) -> x509.CertificateRevocationList | None:
        path = self.directory / CRL
        return x509.load_pem_x509_crl(path.read_bytes()) if path.is_file() else None

    def check_passphrase(self, passphrase: str) -> None:
        self._ca_key(passphrase)

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


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as err:
        raise PkiError(f"{path} is not a PEM certificate.", code="store_corrupt") from err
