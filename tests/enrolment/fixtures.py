"""Fixtures the enrolment, fault and fuzz tests share: a PKI store with a CA, an issuer, a journal.

Each of their conftest.py files imports the ones it needs from here; the classes behind
them are in helpers.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custom_components.tasmota_tls.pki import PkiStore

from .helpers import PASSPHRASE, Issued, JournalLog


@pytest.fixture(scope="session")
def pki_store(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("pki") / "store")
    store.init_ca(PASSPHRASE, "Test Tasmota CA")
    return store


@pytest.fixture
def make_issuer(pki_store: PkiStore) -> Callable[[str, str], Issued]:
    return lambda name, topic: Issued(pki_store, name, topic)


@pytest.fixture
def issuer(make_issuer: Callable[[str, str], Issued]) -> Issued:
    """The issuer of the scripted device "plug"."""
    return make_issuer("plug", "plug")


@pytest.fixture
def journal() -> JournalLog:
    return JournalLog()
