"""The config flow's broker step against a real Mosquitto and virtual Tasmota devices.

A real broker is what the mocked client cannot show: it delivers a device's reply only
to subscriptions it has acknowledged. The step must wait for that before it asks
``Status 6``, pre-fill what the devices answer, and warn on a typo, without a fixed wait.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls import broker_check
from tests.helpers.mosquitto import PLAIN_LISTENER, MosquittoBroker, free_port
from virtual_tasmota import Fleet

from .flow_helpers import ca_form, default_of, start

pytestmark = pytest.mark.usefixtures("mock_setup_entry", "mock_hass_config")


@pytest.fixture(autouse=True)
def loopback_names() -> Any:
    """Names resolve only to loopback here: the tests never ask a DNS server."""
    known = {"localhost": ("127.0.0.1",)}

    async def resolve(hass: HomeAssistant, host: str, port: int) -> tuple[str, ...]:
        if host.replace(".", "").isdigit():
            return (host,)
        return known.get(host, ())

    with patch.object(broker_check, "async_resolve", resolve):
        yield


@asynccontextmanager
async def broker_and_devices(
    hass: HomeAssistant, make_broker: Callable[..., MosquittoBroker], tmp_path: Path, count: int
) -> AsyncIterator[MosquittoBroker]:
    broker = await hass.async_add_executor_job(make_broker, PLAIN_LISTENER)
    port = broker.ports["port"]
    fleet = Fleet(
        broker_host="127.0.0.1",
        broker_port=port,
        state_dir=tmp_path / "fleet",
        count=count,
        http_port=free_port(),
        boot_delay=0.05,
        retry_delay=0.5,
    )
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": port}, version=1, minor_version=2
    )
    async with fleet:
        mqtt_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
        await hass.async_block_till_done()
        try:
            yield broker
        finally:
            if mqtt_entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(mqtt_entry.entry_id)
            await hass.async_block_till_done()


async def to_broker_step(hass: HomeAssistant) -> tuple[ConfigFlowResult, float]:
    """Through the menu and create_ca; returns the broker form and how long the probe took."""
    result = await start(hass, "create_ca")
    started = time.monotonic()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], ca_form(ca_name="Broker step CA")
    )
    elapsed = time.monotonic() - started
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "broker"
    return result, elapsed


async def test_typo_in_the_broker_name_warns(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with broker_and_devices(hass, mosquitto_factory, tmp_path, count=3):
        result, elapsed = await to_broker_step(hass)
        # Every device answered: their MqttHost is pre-filled. The answers are in well
        # before the old fixed 3 s wait would even have ended.
        assert default_of(result, "broker_host") == "127.0.0.1"
        assert elapsed < 2.5, f"the probe took {elapsed:.2f} s"

        flow_id = result["flow_id"]
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"broker_host": "mqtt.hoem.lan", "broker_port": 8883}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "broker_mismatch"
        placeholders = result["description_placeholders"]
        assert placeholders is not None
        assert placeholders["reported_hosts"] == "127.0.0.1"
        assert placeholders["broker_host"] == "mqtt.hoem.lan"
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["step_id"] == "broker_unresolved"
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["broker_host"] == "mqtt.hoem.lan"


async def test_broker_port_that_does_not_answer_warns(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with broker_and_devices(hass, mosquitto_factory, tmp_path, count=1) as broker:
        result, _ = await to_broker_step(hass)
        flow_id = result["flow_id"]
        closed = free_port()
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"broker_host": "127.0.0.1", "broker_port": closed}
        )
        # The name matches what the devices use, so the only warning is the port.
        assert result["step_id"] == "broker_unreachable"
        placeholders = result["description_placeholders"]
        assert placeholders is not None
        assert placeholders["broker_port"] == str(closed)
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["type"] is FlowResultType.CREATE_ENTRY

        # A port that answers, under the name the devices use: no warning at all.
        result, _ = await to_broker_step(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"broker_host": "127.0.0.1", "broker_port": broker.ports["port"]}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
