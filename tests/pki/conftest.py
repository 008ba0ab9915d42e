"""Fixtures for the PKI core: a fresh store per test, with its passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.tasmota_tls.pki import PkiStore

from .support import PASSPHRASE


@pytest.fixture
def store(tmp_path: Path) -> PkiStore:
    pki = PkiStore(tmp_path / "pki")
    pki.init_ca(PASSPHRASE, "Test CA")
    return pki


@pytest.fixture
def ec_store(tmp_path: Path) -> PkiStore:
    pki = PkiStore(tmp_path / "pki-ec")
    pki.init_ca(PASSPHRASE, "Test EC CA", algo="ec")
    return pki
