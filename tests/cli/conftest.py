"""Fixtures for the command-line tool: the broker tests' stores, and brokers to run."""

from tests.broker.fixtures import broker_store, store  # noqa: F401 (fixtures)
from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (a fixture)
