"""Fixtures of the enrolment tests: a PKI store with a CA, an issuer, a journal, a virtual world.

The fixtures are defined in fixtures.py and virtual_world.py (the fault and fuzz tests
take them from there too); the classes behind them are in helpers.py.
"""

from __future__ import annotations

from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (a fixture for these tests)

from .fixtures import issuer, journal, make_issuer, pki_store  # noqa: F401 (fixtures)
from .virtual_world import broker_files, world  # noqa: F401 (fixtures)
