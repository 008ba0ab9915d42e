"""Fixtures for the Home Assistant integration tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, Mock, patch

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.tasmota_tls.broker_check import BrokerCheck
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.engine_timing import FAST_TIMING, use_engine_timing
from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (a fixture for these tests)

from .mqtt_bus import MqttBus


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/tasmota_tls."""


@pytest.fixture
def engine_timing() -> EngineTiming:
    """The engine's waits in these tests; a module overrides this fixture for others."""
    return FAST_TIMING


@pytest.fixture(autouse=True)
def runtime_with_engine_timing(
    engine_timing: EngineTiming, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry a test sets up runs the engine with ``engine_timing``."""
    use_engine_timing(monkeypatch, engine_timing)


@pytest.fixture
def broker_answers() -> Generator[None]:
    """The broker name resolves and its port answers (test_broker_step.py checks for real).

    The names the flow tests use (mqtt.home.lan) would otherwise go to a DNS server.
    """
    with patch(
        "custom_components.tasmota_tls.config_flow.async_check_broker",
        AsyncMock(return_value=BrokerCheck(("192.0.2.1",), True)),
    ):
        yield


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep entry setup out of config flow tests."""
    with patch("custom_components.tasmota_tls.async_setup_entry", return_value=True) as setup_entry:
        yield setup_entry


@pytest.fixture
async def mqtt_bus(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mqtt_client_mock: Any
) -> AsyncGenerator[MqttBus]:
    """Home Assistant's MQTT set up on the mocked client, with retained messages."""
    yield MqttBus(hass, mqtt_client_mock)
    # Close the (mocked) socket as a broker would, which stops the client's timer.
    mqtt_client_mock.on_socket_close(mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1)))


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Each test gets its own configuration folder (the CA store lives under it)."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def only_our_mqtt_discovery() -> Generator[None]:
    """MQTT discovery offers only this integration.

    Home Assistant's own Tasmota integration listens to the same discovery topic,
    but its library is not installed here; the offer it would start only fails.
    """
    with patch(
        "homeassistant.components.mqtt.discovery.async_get_mqtt",
        AsyncMock(return_value={"tasmota_tls": ["tasmota/discovery/#"]}),
    ):
        yield
