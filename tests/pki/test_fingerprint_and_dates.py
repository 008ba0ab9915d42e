"""Fingerprints only for keys the firmware can pin, and dates on old and new cryptography."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from custom_components.tasmota_tls.pki import PkiError, dates
from custom_components.tasmota_tls.pki.fingerprint import (
    fingerprint_bytes,
    format_fingerprint,
    has_fingerprint,
    parse_fingerprint,
    tasmota_fingerprint,
)


def test_an_ec_key_has_no_fingerprint_a_device_computes() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not has_fingerprint(key)
    with pytest.raises(PkiError) as caught:
        tasmota_fingerprint(key)
    assert caught.value.code == "fingerprint_needs_rsa"


def test_other_key_types_are_refused_by_name() -> None:
    with pytest.raises(PkiError) as caught:
        fingerprint_bytes(ed25519.Ed25519PrivateKey.generate().public_key())  # type: ignore[arg-type]
    assert caught.value.code == "unsupported_key"


def test_an_rsa_fingerprint_reads_back_in_every_accepted_spelling() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert has_fingerprint(key)
    raw = fingerprint_bytes(key)
    spaced = format_fingerprint(raw)
    assert spaced == tasmota_fingerprint(key)  # what MqttFingerprint1 is given
    assert len(raw) == 20 and spaced == spaced.upper() and spaced.count(" ") == 19
    for text in (spaced, spaced.replace(" ", ":"), spaced.replace(" ", "").lower()):
        assert parse_fingerprint(text) == raw


@pytest.mark.parametrize("text", ["zz " * 20, "AB " * 19, "AB" * 21])
def test_a_fingerprint_that_is_not_20_hex_bytes_is_refused(text: str) -> None:
    with pytest.raises(PkiError) as caught:
        parse_fingerprint(text)
    assert caught.value.code == "invalid_fingerprint"


class Cryptography38Certificate:
    """What cryptography 38 (Debian 12) offers: naive UTC datetimes, no *_utc names."""

    not_valid_before = dt.datetime(2026, 1, 1, 0, 0)
    not_valid_after = dt.datetime(2027, 1, 1, 0, 0)


class Cryptography38Crl:
    last_update = dt.datetime(2026, 12, 1, 0, 0)
    next_update: dt.datetime | None = dt.datetime(2026, 12, 31, 0, 0)


def test_naive_dates_of_old_cryptography_read_as_utc() -> None:
    cert = Cryptography38Certificate()
    assert dates.not_before(cert) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # type: ignore[arg-type]
    assert dates.not_after(cert) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # type: ignore[arg-type]
    crl = Cryptography38Crl()
    assert dates.last_update(crl) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # type: ignore[arg-type]
    assert dates.next_update(crl) == dt.datetime(2026, 12, 31, tzinfo=dt.UTC)  # type: ignore[arg-type]
    crl.next_update = None
    assert dates.next_update(crl) is None  # type: ignore[arg-type]
