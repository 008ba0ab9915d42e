"""Fixtures for the fault tests: the engine's waits, and the enrolment tests' PKI and broker."""

from __future__ import annotations

import pytest

from custom_components.tasmota_tls.settings import EngineTiming
from tests.enrolment.fixtures import make_issuer, pki_store  # noqa: F401 (fixtures)
from tests.enrolment.virtual_world import broker_files  # noqa: F401 (a fixture)
from tests.helpers.engine_timing import REAL_BROKER_TIMING, use_engine_timing


@pytest.fixture
def engine_timing() -> EngineTiming:
    """The engine's waits; a module overrides this fixture for others."""
    return REAL_BROKER_TIMING


@pytest.fixture(autouse=True)
def runtime_with_engine_timing(
    engine_timing: EngineTiming, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry a test sets up runs the engine with ``engine_timing``."""
    use_engine_timing(monkeypatch, engine_timing)
