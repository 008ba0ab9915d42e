"""Reading an existing Easy-RSA 3 pki/ folder, so users of the manual guide keep their CA."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from . import dates
from .errors import PkiError, WrongPassphraseError
from .index import IndexEntry, Kind
from .keys import PrivateKey, decrypt_key
from .profiles import normalize_reason

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
REASONS = {
    "unspecified",
    "keyCompromise",
    "CACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
}


@dataclass
class ImportedPki:
    ca_cert: x509.Certificate
    ca_key: PrivateKey
    rows: list[tuple[IndexEntry, x509.Certificate | None]]
    used_serials: set[int]


def pem_certificate(data: bytes, source: str) -> x509.Certificate:
    """The first PEM certificate in data; Easy-RSA may put a text dump before it."""
    match = _PEM_CERT.search(data)
    if not match:
        raise PkiError(f"{source} holds no PEM certificate.", code="import_failed")
    try:
        return x509.load_pem_x509_certificate(match.group(0))
    except ValueError as err:
        raise PkiError(f"{source} holds a damaged certificate.", code="import_failed") from err


def load_ca_certificate(data: bytes, source: str = "the CA certificate") -> x509.Certificate:
    cert = pem_certificate(data, source)
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise PkiError(
            f"{source} is not a CA certificate (basicConstraints CA:TRUE).", code="not_a_ca"
        )
    return cert


def load_ca_key(data: bytes, passphrase: str, cert: x509.Certificate) -> PrivateKey:
    """The CA key, encrypted with passphrase (or unencrypted), matching cert."""
    try:
        key = decrypt_key(data, passphrase)
    except WrongPassphraseError:
        try:  # an unencrypted key is accepted and encrypted at rest by the caller
            loaded = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            raise WrongPassphraseError(
                "The passphrase does not unlock the CA key. Check it and try again."
            ) from None
        key = loaded  # type: ignore[assignment]
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise PkiError("The key does not belong to the CA certificate.", code="key_mismatch")
    return key


def parse_time(text: str) -> dt.datetime:
    """Easy-RSA/OpenSSL index times: YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ, UTC."""
    fmt = "%y%m%d%H%M%SZ" if len(text) == 13 else "%Y%m%d%H%M%SZ"
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)


def subject_cn(subject: str) -> str:
    """'/C=UK/.../CN=name/emailAddress=x' -> 'name'."""
    for part in subject.split("/"):
        if part.startswith("CN="):
            return part[3:]
    raise ValueError(f"no CN in subject {subject!r}")


@dataclass(frozen=True)
class IndexRow:
    status: str
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    reason: str | None
    serial: int
    cn: str


def parse_index_line(line: str) -> IndexRow:
    """One TAB-separated line of index.txt; ValueError names what is wrong."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 6:
        raise ValueError(f"expected 6 TAB-separated fields, got {len(fields)}")
    status, expiry, revocation, serial_hex, _filename, subject = fields
    if status not in ("V", "R", "E"):
        raise ValueError(f"unknown status {status!r}")
    revoked_at, reason = None, None
    if status == "R":
        when, _, reason_text = revocation.partition(",")
        revoked_at = parse_time(when)
        reason = reason_text or "unspecified"
        if reason not in REASONS:
            raise ValueError(f"unknown revocation reason {reason!r}")
    serial = int(serial_hex, 16)
    if serial <= 0:
        raise ValueError("serial must be positive")
    return IndexRow(status, parse_time(expiry), revoked_at, reason, serial, subject_cn(subject))


def _kind(cert: x509.Certificate | None) -> Kind:
    if cert is None:
        return "imported"
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "device"  # the guide's tasmota profile has no extendedKeyUsage
    return "broker" if ExtendedKeyUsageOID.SERVER_AUTH in usages else "device"


def _issued_certificates(pki: Path) -> dict[int, x509.Certificate]:
    found: dict[int, x509.Certificate] = {}
    for folder in ("issued", "certs_by_serial", "revoked/certs_by_serial"):
        for path in sorted((pki / folder).glob("*")):
            if path.suffix in (".crt", ".pem") and path.is_file():
                cert = pem_certificate(path.read_bytes(), str(path))
                found[cert.serial_number] = cert
    return found


def _index_text(path: Path) -> str:
    """index.txt as text; OpenSSL writes UTF-8, anything else is named, not guessed."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PkiError(
            f"{path} is not UTF-8 text: byte 0x{data[err.start]:02X} on line {line} cannot be "
            "read. Convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8) and import again; "
            "nothing was imported.",
            code="index_not_utf8",
        ) from None


def read_pki(pki: Path, passphrase: str) -> ImportedPki:
    """Everything worth keeping from pki/; refuses with a message naming the missing piece."""
    for needed in ("ca.crt", "private/ca.key", "index.txt"):
        if not (pki / needed).is_file():
            raise PkiError(
                f"{pki / needed} is missing; is {pki} an Easy-RSA pki/ folder?",
                code="import_failed",
            )
    ca_cert = load_ca_certificate((pki / "ca.crt").read_bytes(), str(pki / "ca.crt"))
    ca_key = load_ca_key((pki / "private/ca.key").read_bytes(), passphrase, ca_cert)
    certs = _issued_certificates(pki)
    rows: list[tuple[IndexEntry, x509.Certificate | None]] = []
    used = {ca_cert.serial_number, *certs}
    for number, line in enumerate(_index_text(pki / "index.txt").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = parse_index_line(line)
        except ValueError as err:
            raise PkiError(
                f"{pki / 'index.txt'} line {number}: {err}.", code="import_failed"
            ) from err
        cert = certs.get(row.serial)
        entry = IndexEntry(
            serial=f"{row.serial:x}",
            cn=row.cn,
            kind=_kind(cert),
            not_before=dates.not_before(cert) if cert else None,
            not_after=row.not_after,
            status="revoked" if row.status == "R" else "valid",
            revoked_at=row.revoked_at,
            reason=normalize_reason(row.reason) if row.reason else None,
        )
        rows.append((entry, cert))
        used.add(row.serial)
    serial_file = pki / "serial"
    if serial_file.is_file():
        text = serial_file.read_text().strip()
        if text:
            try:
                used.add(int(text, 16))
            except ValueError as err:
                raise PkiError(f"{serial_file} is not a hex serial.", code="import_failed") from err
    return ImportedPki(ca_cert, ca_key, rows, used)
