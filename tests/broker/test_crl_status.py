"""CRL freshness: fresh, stale (less than a third of the period left), expired."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.broker.crl_status import crl_status, load_crl
from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.errors import PkiError

from .support import PASSPHRASE

MINUTE = dt.timedelta(minutes=1)


def test_states_across_the_period(store: PkiStore) -> None:
    crl = store.generate_crl(PASSPHRASE, days=30)
    last, nxt = crl.last_update_utc, crl.next_update_utc
    assert nxt is not None
    period = nxt - last
    turn = nxt - period / 3

    assert crl_status(crl, last).state == "fresh"
    assert crl_status(crl, turn - MINUTE).state == "fresh"
    assert crl_status(crl, turn + MINUTE).state == "stale"
    assert crl_status(crl, nxt - MINUTE).state == "stale"
    assert crl_status(crl, nxt).state == "expired"

    status = crl_status(crl, last)
    assert status.period == period
    assert status.refresh_by == turn
    assert status.remaining(last) == period
    assert not status.warn
    assert crl_status(crl, turn + MINUTE).warn


def test_messages_name_the_fix(store: PkiStore) -> None:
    crl = store.generate_crl(PASSPHRASE, days=30)
    nxt = crl.next_update_utc
    assert nxt is not None

    assert "refresh it before" in crl_status(crl, crl.last_update_utc).message()
    stale = crl_status(crl, nxt - dt.timedelta(days=2)).message()
    assert "tasmota-tls crl" in stale
    expired = crl_status(crl, nxt + MINUTE).message()
    assert "EVERY client" in expired
    assert "tasmota-tls crl" in expired


def test_counts_revocations_and_reads_the_crl_number(store: PkiStore) -> None:
    store.issue_device(PASSPHRASE, "plug")
    store.revoke(PASSPHRASE, "plug")
    crl = store.generate_crl(PASSPHRASE)
    status = crl_status(crl, crl.last_update_utc)

    assert status.revoked == 1
    assert status.number is not None
    assert status.number >= 2


def test_naive_time_is_refused(store: PkiStore) -> None:
    crl = store.generate_crl(PASSPHRASE)
    with pytest.raises(ValueError, match="timezone"):
        crl_status(crl, dt.datetime(2030, 1, 1))


def test_load_crl_reads_pem_and_der_and_refuses_anything_else(
    store: PkiStore, tmp_path: Path
) -> None:
    crl = store.generate_crl(PASSPHRASE)
    pem, der = tmp_path / "crl.pem", tmp_path / "crl.der"
    pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    der.write_bytes(crl.public_bytes(serialization.Encoding.DER))

    assert load_crl(pem) == crl
    assert load_crl(der) == crl

    (tmp_path / "junk").write_bytes(b"not a crl")
    with pytest.raises(PkiError) as err:
        load_crl(tmp_path / "junk")
    assert err.value.code == "invalid_crl"
    with pytest.raises(PkiError) as missing:
        load_crl(tmp_path / "absent.pem")
    assert missing.value.code == "not_found"
