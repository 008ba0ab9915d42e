"""The store's files on disk: a private folder, pair files, and the checks run on load.

A key and its certificate live in ONE file (the certificate PEM, then the encrypted key
PEM), replaced atomically: a crash or a full disk leaves the old pair or the new one,
never a key that does not match its certificate. Stores written before pair files had
two files (broker.crt + broker.key); they are still read, and checked when unlocked.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import PkiError, StoreCorruptError
from .fsutil import KEY_MODE, atomic_write
from .index import Index
from .keys import PrivateKey

STORE_MODE = 0o700
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----\r?\n.+?-----END \1-----\r?\n?", re.DOTALL)
_CERT_LABEL = b"CERTIFICATE"
_KEY_LABELS = (b"ENCRYPTED PRIVATE KEY", b"PRIVATE KEY")


def make_private_dir(directory: Path) -> None:
    """Create the store folder 0700 whatever the umask (a new store only)."""
    directory.mkdir(mode=STORE_MODE, parents=True, exist_ok=True)
    os.chmod(directory, STORE_MODE)  # an existing empty folder, or mkdir under an odd umask


def open_lock(directory: Path) -> IO[bytes]:
    """The lock file, 0600: nobody else may create or hold it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(directory / ".lock", flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older store's lock may be 0666
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab")


def remove_leftovers(directory: Path) -> None:
    """Temporary files a killed writer left (fsutil.atomic_write names them .NAME.*.tmp).

    Called under the store's lock, when no writer of ours can be mid-write.
    """
    for path in directory.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def check_private(directory: Path, names: tuple[str, ...]) -> None:
    """Refuse a store that others could change: the folder or a file group/world-writable.

    Whoever can replace ca.crt or index.json in the folder can make us trust their CA.
    """
    for path in (directory, *(directory / name for name in names)):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise PkiError(
                f"{path} is a symbolic link; the store holds only its own files. Nothing was read.",
                code="store_insecure",
            )
        if st.st_mode & 0o022:
            mode = stat.S_IMODE(st.st_mode)
            fix = "chmod 700" if path == directory else "chmod go-w"
            raise PkiError(
                f"{path} is writable by other users (mode {mode:04o}), so anyone could "
                f"replace the CA. Check its files, then run `{fix} {path}`. Nothing was read.",
                code="store_insecure",
            )


@dataclass(frozen=True)
class PairFile:
    """A certificate with its (encrypted) key, as read from disk."""

    certificate: x509.Certificate
    key_pem: bytes
    source: str  # for messages: the file(s) it came from


def write_pair(path: Path, cert: x509.Certificate, key_pem: bytes) -> None:
    """One atomic file, 0600: the certificate, then the encrypted key."""
    atomic_write(path, cert.public_bytes(serialization.Encoding.PEM) + key_pem, KEY_MODE)


def read_pair(path: Path, legacy_cert: Path, legacy_key: Path) -> PairFile | None:
    """The pair in ``path``, else the two files of an older store, else None."""
    if path.is_file():
        blocks = {m.group(1): m.group(0) for m in _PEM_BLOCK.finditer(path.read_bytes())}
        key_pem = next((blocks[label] for label in _KEY_LABELS if label in blocks), None)
        if _CERT_LABEL not in blocks or key_pem is None:
            raise StoreCorruptError(
                f"{path} must hold a certificate and its key; restore it from a backup."
            )
        return PairFile(_load_cert(blocks[_CERT_LABEL], path), key_pem, path.name)
    if legacy_cert.is_file() and legacy_key.is_file():
        cert = _load_cert(legacy_cert.read_bytes(), legacy_cert)
        return PairFile(cert, legacy_key.read_bytes(), f"{legacy_cert.name}/{legacy_key.name}")
    return None


def public_der(key: PrivateKey | x509.Certificate) -> bytes:
    """SubjectPublicKeyInfo DER: equal exactly when the keys are the same."""
    public = key.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_match(key: PrivateKey, cert: x509.Certificate, what: str) -> None:
    """A key that does not belong to its certificate is refused, never used."""
    if public_der(key) != public_der(cert):
        raise StoreCorruptError(
            f"The {what} key does not belong to its certificate ({what} pair mismatch). "
            "Nothing was changed; restore the store from a backup or issue a new one."
        )


def check_ca(cert: x509.Certificate, index: Index, name: str) -> None:
    """ca.crt must be the CA certificate the index recorded when the store was made."""
    ca_entry = next((e for e in index.entries if e.kind == "ca"), None)
    stored = index.certificates.get(ca_entry.serial) if ca_entry else None
    if stored is not None and stored != cert.public_bytes(serialization.Encoding.DER):
        raise StoreCorruptError(
            f"{name} is not the CA this store issued from (its index holds another CA "
            "certificate). Restore ca.crt from a backup; nothing was changed."
        )


def _load_cert(data: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as err:
        raise StoreCorruptError(f"{path} holds a damaged certificate.") from err
