"""The bench's own wiring, tested on the integration tests' Home Assistant and MQTT mock."""

from __future__ import annotations

from tests.integration.conftest import (  # noqa: F401 (fixtures for these tests)
    auto_enable_custom_integrations,
    config_dir,
    engine_timing,
    mqtt_bus,
    only_our_mqtt_discovery,
    runtime_with_engine_timing,
)
