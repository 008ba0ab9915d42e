"""Tasmota TLS is offered under *Discovered* beside Home Assistant's own Tasmota integration.

Both manifests name ``tasmota/discovery/#``; Home Assistant's MQTT discovery starts a
flow for a topic for one integration only ("Ignoring already processed discovery
message" for the other). Here the real Tasmota integration is set up, with the real
list of MQTT manifests, as in an ordinary installation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator

import pytest
from homeassistant.config_entries import SOURCE_MQTT
from homeassistant.core import HomeAssistant
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from custom_components.tasmota_tls.const import DOMAIN
from tests.helpers.constants import MAC

from .helpers import setup_tasmota, wait_for
from .install import discovery_payload
from .mqtt_bus import MqttBus


@pytest.fixture(autouse=True)
def only_our_mqtt_discovery() -> Generator[None]:
    """Replaces the conftest's patch: every integration's MQTT manifest counts here."""
    yield


def our_offers(hass: HomeAssistant) -> list[dict[str, object]]:
    return [
        dict(flow)
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_MQTT
    ]


async def test_offered_under_discovered_with_the_tasmota_integration_set_up(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    tasmota = await setup_tasmota(hass)
    # What a Tasmota device leaves on the broker: its discovery config and its will.
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload(mac=MAC))
    mqtt_bus.retain("tele/plug_abcdef/LWT", "Online")
    await wait_for(hass, lambda: bool(our_offers(hass)), 15)
    offers = our_offers(hass)
    assert len(offers) == 1
    assert offers[0]["step_id"] == "discovery_confirm"
    # The Tasmota integration still has the device (its relay): nothing was taken away.
    await wait_for(hass, lambda: hass.states.get("switch.kitchen_plug") is not None, 15)
    # HATasmota debounces its status requests by 1 s (hatasmota.mqtt.Timer, plain asyncio,
    # not cancelled on unload): let them go out before the test ends.
    await asyncio.sleep(1.5)
    assert await hass.config_entries.async_unload(tasmota.entry_id)
    await hass.async_block_till_done()


async def test_a_will_without_a_tasmota_config_is_not_offered(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """Anyone can publish tele/<x>/LWT; without a Tasmota config naming it, no offer."""
    mqtt_bus.retain(
        f"tasmota/discovery/{MAC}/config", json.dumps(json.loads(discovery_payload(mac=MAC)))
    )
    info = MqttServiceInfo(
        topic="tele/somebody_else/LWT",
        payload="Online",
        qos=0,
        retain=True,
        subscribed_topic="tele/+/LWT",
        timestamp=0,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=info
    )
    assert result["type"] == "abort"
    assert result["reason"] == "not_tasmota"
