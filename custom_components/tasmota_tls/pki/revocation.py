"""Revocation and CRLs: the index is saved before crl.pem, and CRL numbers only grow.

Order matters for a crash or a full disk. The revocations and the next CRL number are
saved in the index first; crl.pem is written after. A failure in between leaves the
revocation recorded and its number spent, so the next CRL carries it under a higher
number: no CRL number is ever used for two different lists (RFC 5280, 5.2.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import profiles
from .dates import utcnow
from .errors import PkiError
from .fsutil import atomic_write
from .index import Index, IndexEntry, find_in
from .keys import PrivateKey
from .limits import CRL_DAYS
from .store_base import CRL, StoreBase


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


def revoke_many(
    store: StoreBase, passphrase: str, wanted: Sequence[str], reason: str
) -> list[IndexEntry]:
    """Revoke each certificate (by serial or name) and write one new CRL; all or nothing."""
    reason = profiles.normalize_reason(reason)
    ca_key = store._ca_key(passphrase)
    with store._mutation():
        index = store._index()
        revoked: list[IndexEntry] = []
        for name in wanted:
            entry = find_in(index, name)
            if entry.kind == "ca":
                raise PkiError("The CA cannot revoke itself.", code="invalid_target")
            if entry.status == "revoked":
                raise PkiError(
                    f"{entry.cn} ({entry.serial}) is already revoked.", code="already_revoked"
                )
            revoked.append(entry.revoked(utcnow(), reason))
            index.replace_entry(entry, revoked[-1])
        write_crl(store, index, ca_key, CRL_DAYS)
    return revoked


def generate_crl(store: StoreBase, passphrase: str, days: int) -> x509.CertificateRevocationList:
    ca_key = store._ca_key(passphrase)
    with store._mutation():
        return write_crl(store, store._index(), ca_key, days)


def write_crl(
    store: StoreBase, index: Index, ca_key: PrivateKey, days: int
) -> x509.CertificateRevocationList:
    """Spend the next CRL number in the saved index, then sign and write crl.pem."""
    current = store.crl()
    on_disk = crl_number(current) if current is not None else 0
    # Above the file's number too: an index restored from a backup must not reuse one.
    index.crl_number = max(index.crl_number, on_disk) + 1
    store._save(index)
    revoked = [
        (e.serial_int, e.revoked_at or utcnow(), e.reason or "unspecified")
        for e in index.entries
        if e.status == "revoked"
    ]
    crl = profiles.build_crl(
        ca_key, store.ca_certificate(), revoked, index.crl_number, days, utcnow()
    )
    try:
        atomic_write(store.directory / CRL, crl.public_bytes(serialization.Encoding.PEM))
    except PkiError as err:
        raise PkiError(
            f"{err} The index is saved with every revocation; run `crl` again to write the CRL.",
            code="write_failed",
        ) from err
    return crl
