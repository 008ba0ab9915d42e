"""Fixtures for the PKI core: a fresh store per test, with its passphrase."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from custom_components.tasmota_tls.pki import PkiStore

PASSPHRASE = "correct horse battery staple"


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


def snapshot(directory: Path) -> dict[str, str]:
    """Every file's content hash, to prove that a refused operation changed nothing."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }
