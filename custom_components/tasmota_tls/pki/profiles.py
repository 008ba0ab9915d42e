"""Certificate profiles: CA, broker, device (the guide's reduced "tasmota" profile), HA client."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import PkiError
from .keys import PrivateKey
from .names import parse_host

DnMode: TypeAlias = Literal["cn_only", "org"]

# Org-style fields, in the order Easy-RSA writes them.
ORG_FIELDS: dict[str, x509.ObjectIdentifier] = {
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "city": NameOID.LOCALITY_NAME,
    "org": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
}
# Certificates start a little in the past so a device with a slightly slow clock accepts them.
BACKDATE = dt.timedelta(minutes=10)


def new_serial(used: set[int]) -> int:
    """A fresh positive 128-bit random serial that was never used before."""
    while True:
        serial = secrets.randbits(128)
        if serial and serial not in used:
            return serial


def make_name(
    cn: str, dn_mode: DnMode = "cn_only", org: Mapping[str, str] | None = None
) -> x509.Name:
    """CN-only by default; org-style names carry C, ST, L, O, OU, CN and e-mail like Easy-RSA."""
    attributes: list[x509.NameAttribute[str]] = []  # generic in cryptography >= 42 only
    if dn_mode == "org":
        org = org or {}
        unknown = set(org) - {*ORG_FIELDS, "email"}
        if unknown:
            raise PkiError(
                f"Unknown name fields: {', '.join(sorted(unknown))}.", code="invalid_name"
            )
        for field, oid in ORG_FIELDS.items():
            if org.get(field):
                attributes.append(x509.NameAttribute(oid, org[field]))
    elif dn_mode != "cn_only":
        raise PkiError(f"Unknown name mode {dn_mode!r}; use cn_only or org.", code="invalid_name")
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if dn_mode == "org" and org and org.get("email"):
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, org["email"]))
    try:
        return x509.Name(attributes)
    except ValueError as err:
        raise PkiError(f"Invalid name: {err}", code="invalid_name") from err


MAX_DAYS = 36500


def _validity(days: int) -> dt.timedelta:
    if not 1 <= days <= MAX_DAYS:
        raise PkiError(
            f"A validity of {days} days is not possible; give 1 to {MAX_DAYS} days.",
            code="invalid_days",
        )
    return dt.timedelta(days=days)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: object,
    serial: int,
    days: int,
    now: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + _validity(days))
    )


def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


def _aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Key identifier only (no issuer name and serial): smaller, and survives CA re-issue."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # an imported CA may lack it
        ski = x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def build_ca(
    key: PrivateKey, name: x509.Name, serial: int, days: int, now: dt.datetime
) -> x509.Certificate:
    builder = (
        _builder(name, name, key.public_key(), serial, days, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    return _sign(builder, key)


def build_broker(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    key: PrivateKey,
    host: str,
    extra_names: Iterable[str],
    serial: int,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    """serverAuth; CN is the MqttHost; the SAN lists it (DNS or IP) and any extra names.

    An IP address goes in twice: as an iPAddress entry for OpenSSL clients, and as a
    dNSName entry because BearSSL (the device) matches the server name against dNSName
    entries only.
    """
    kind, value = parse_host(host)
    names: list[x509.GeneralName] = []
    for name_kind, name in [(kind, value), *(parse_host(extra) for extra in extra_names)]:
        generals: list[x509.GeneralName] = [x509.DNSName(name)]
        if name_kind == "ip":
            generals.insert(0, x509.IPAddress(ipaddress.ip_address(name)))
        names += [general for general in generals if general not in names]
    builder = (
        _builder(make_name(value), ca_cert.subject, key.public_key(), serial, days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    return _sign(builder, ca_key)


def build_device(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    serial: int,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    """The guide's reduced profile, exactly: nothing more, so the certificate stays small."""
    builder = (
        _builder(subject, ca_cert.subject, key.public_key(), serial, days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
        .add_extension(_key_usage(digital_signature=True), critical=True)
    )
    return _sign(builder, ca_key)


def build_client(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    key: PrivateKey,
    cn: str,
    serial: int,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    """clientAuth, for Home Assistant's own connection to a certificate-only listener."""
    builder = (
        _builder(make_name(cn), ca_cert.subject, key.public_key(), serial, days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return _sign(builder, ca_key)


REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
    "privilege_withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def normalize_reason(reason: str) -> str:
    """Accept Easy-RSA/OpenSSL spellings (keyCompromise) and ours (key_compromise)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in reason.strip()).lstrip("_")
    snake = snake.replace("c_a_", "ca_").replace("-", "_")
    if snake not in REVOCATION_REASONS:
        raise PkiError(
            f"Unknown revocation reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}.",
            code="invalid_reason",
        )
    return snake


def build_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[tuple[int, dt.datetime, str]],
    number: int,
    days: int,
    now: dt.datetime,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + _validity(days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    for serial, when, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason != "unspecified":
            entry = entry.add_extension(x509.CRLReason(REVOCATION_REASONS[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, hashes.SHA256())
