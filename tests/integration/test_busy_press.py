"""Enrol pressed again while an enrolment runs: refused with a message the frontend shows.

The frontend shows a button press that raises a (translated) HomeAssistantError as a
toast with the error's message: the websocket reply carries that message.
"""

from __future__ import annotations

import asyncio

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.constants import MAC

from .helpers import collect_events, wait_for
from .install import discovery_payload, install
from .mqtt_bus import MqttBus

BUSY = "This device is already enrolling or renewing: the press was ignored."


@pytest.fixture
def engine_timing() -> EngineTiming:
    # The silent device fails at the first step only after step_timeout: long enough for
    # the presses that follow, short enough for the test.
    return EngineTiming(step_timeout=2.0, poll_interval=0.1, wait_online_timeout=2.0)


async def _enrol_button(hass: HomeAssistant, bus: MqttBus) -> str:
    bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    return next(e for e in hass.states.async_entity_ids("button") if e.endswith("_enrol"))


async def test_second_and_third_press_are_refused_in_the_frontend(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_ws_client: WebSocketGenerator
) -> None:
    await install(hass, options={"channel": "mqtt"})
    button = await _enrol_button(hass, mqtt_bus)
    events = collect_events(hass)
    client = await hass_ws_client(hass)
    replies = []
    for message_id in (1, 2, 3):  # as the frontend sends a press
        await client.send_json({"id": message_id, "type": "call_service", "domain": "button",
                                "service": "press", "target": {"entity_id": button}})  # fmt: skip
        replies.append(await client.receive_json())
    assert replies[0]["success"] is True
    for reply in replies[1:]:
        assert reply["success"] is False
        error = reply["error"]
        assert error["code"] == "service_validation_error"
        assert error["translation_key"] == "busy"
        assert BUSY in error["message"]  # the toast's text
    assert not any(e["type"] == "enrolment_failed" for e in events)  # the first still runs
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))


async def test_presses_at_the_same_moment_start_one_enrolment(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    await install(hass, options={"channel": "mqtt"})
    button = await _enrol_button(hass, mqtt_bus)
    events = collect_events(hass)
    results = await asyncio.gather(
        *(
            hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ServiceValidationError)]
    assert len(refused) == 2 and results.count(None) == 1, results
    assert all(r.translation_key == "busy" and BUSY in str(r) for r in refused)
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    assert [e["type"] for e in events].count("enrolment_failed") == 1
