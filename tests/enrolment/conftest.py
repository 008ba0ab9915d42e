"""Shared fixtures: a PKI store with a CA, an issuer and a journal that records every step.

The classes behind them are in helpers.py; they are named here too because the fault and
fuzz tests import them from this module.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (a fixture for these tests)

from .helpers import PASSPHRASE, Issued, JournalLog, device_for

__all__ = ["PASSPHRASE", "Issued", "JournalLog", "device_for"]


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


# Fixtures of virtual_world.py, imported here so every test module can use them.
from .virtual_world import broker_files, world  # noqa: E402, F401
