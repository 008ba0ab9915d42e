"""CRL freshness: an expired CRL makes Mosquitto refuse every client, so warn early.

A CRL is "stale" once less than a third of its period (nextUpdate - lastUpdate) is
left, and "expired" from nextUpdate on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509

from ..pki import dates
from ..pki.errors import PkiError

CrlState: TypeAlias = Literal["fresh", "stale", "expired"]
WARN_FRACTION = 3  # warn when less than period / WARN_FRACTION remains


@dataclass(frozen=True)
class CrlStatus:
    last_update: dt.datetime
    next_update: dt.datetime | None
    state: CrlState
    revoked: int
    number: int | None

    @property
    def period(self) -> dt.timedelta | None:
        return None if self.next_update is None else self.next_update - self.last_update

    def remaining(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.next_update is None else self.next_update - now

    @property
    def warn(self) -> bool:
        return self.state != "fresh"

    @property
    def refresh_by(self) -> dt.datetime | None:
        """When it turns stale: refresh before this."""
        period = self.period
        if period is None or self.next_update is None:
            return None
        return self.next_update - period / WARN_FRACTION

    def message(self) -> str:
        if self.next_update is None:
            return "The CRL has no nextUpdate; it never expires."
        when = f"{self.next_update:%Y-%m-%d %H:%M} UTC"
        if self.state == "expired":
            return (f"The CRL expired at {when}: the broker refuses EVERY client. Run "
                    "`tasmota-tls crl`, update the broker's crlfile and reload it.")  # fmt: skip
        if self.state == "stale":
            return (f"The CRL expires at {when}, in less than a third of its period. "
                    "Refresh it now with `tasmota-tls crl` and reload the broker.")  # fmt: skip
        return f"The CRL is valid until {when}; refresh it before {self.refresh_by:%Y-%m-%d}."


def crl_status(crl: x509.CertificateRevocationList, now: dt.datetime) -> CrlStatus:
    """How fresh a CRL is at ``now`` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    last, nxt = dates.last_update(crl), dates.next_update(crl)
    state: CrlState = "fresh"
    if nxt is not None:
        if now >= nxt:
            state = "expired"
        elif (nxt - now) * WARN_FRACTION < (nxt - last):
            state = "stale"
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    return CrlStatus(last, nxt, state, len(crl), number)


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """A PEM (or DER) CRL file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PkiError(f"Cannot read the CRL {path}: {err.strerror}.", code="not_found") from err
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as err:
        raise PkiError(f"{path} is not a CRL.", code="invalid_crl") from err
