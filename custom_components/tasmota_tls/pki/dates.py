"""Certificate and CRL dates as timezone-aware UTC, on every supported `cryptography`.

cryptography 42 added the `*_utc` properties and deprecated the naive ones; Debian 12
ships 38, which has only the naive ones (UTC without tzinfo). The CLI must run on both.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def not_before(cert: x509.Certificate) -> dt.datetime:
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc
    return _aware(cert.not_valid_before)


def not_after(cert: x509.Certificate) -> dt.datetime:
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_after_utc
    return _aware(cert.not_valid_after)


def last_update(crl: x509.CertificateRevocationList) -> dt.datetime:
    if hasattr(crl, "last_update_utc"):
        return crl.last_update_utc
    return _aware(crl.last_update)


def next_update(crl: x509.CertificateRevocationList) -> dt.datetime | None:
    if hasattr(crl, "next_update_utc"):
        return crl.next_update_utc
    value = crl.next_update
    return None if value is None else _aware(value)
