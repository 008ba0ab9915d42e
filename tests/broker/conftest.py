"""Fixtures for the broker bundle: a store with a CA, a broker certificate and devices."""

import pytest

from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (a fixture)

from .fixtures import broker_store, store  # noqa: F401 (fixtures)
from .live import pki  # noqa: F401 (a fixture: one live CA per test module)
from .support import PASSPHRASE


@pytest.fixture
def live_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live CA's passphrase where the command-line tool looks for it."""
    monkeypatch.setenv("TASMOTA_TLS_PASSPHRASE", PASSPHRASE)
