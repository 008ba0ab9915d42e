"""Broker-test fixtures, shared with the CLI tests: a store with a CA, then a broker certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.tasmota_tls.pki import PkiStore

from .support import BROKER_HOST, PASSPHRASE


@pytest.fixture
def store(tmp_path: Path) -> PkiStore:
    pki = PkiStore(tmp_path / "pki")
    pki.init_ca(PASSPHRASE, "Broker Test CA")
    return pki


@pytest.fixture
def broker_store(store: PkiStore) -> PkiStore:
    store.issue_broker(PASSPHRASE, BROKER_HOST, extra_names=["127.0.0.1"])
    return store
