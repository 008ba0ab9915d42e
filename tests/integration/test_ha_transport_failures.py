"""HomeAssistantTransport reports MQTT trouble as TransportError, and copes with internals.

Home Assistant's MQTT integration on its mocked client (mqtt_bus): what the engine sees
when MQTT is not set up, not connected, refuses a publish or a subscription, or when
the client's internals that the transport follows are not what it expects.
"""

from __future__ import annotations

import logging
from unittest.mock import patch

import pytest
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.tasmota_tls.enrolment import ha_transport
from custom_components.tasmota_tls.enrolment.ha_transport import HomeAssistantTransport
from custom_components.tasmota_tls.enrolment.transport import TransportError

from .mqtt_bus import MqttBus


async def test_without_mqtt_publish_and_listen_fail_as_transport_errors(
    hass: HomeAssistant,
) -> None:
    transport = HomeAssistantTransport(hass)
    with pytest.raises(TransportError, match=r"MQTT publish to cmnd/dev/Status failed"):
        await transport.publish("cmnd/dev/Status", "0")
    with pytest.raises(TransportError, match="MQTT is not set up"):
        async with transport.listen("stat/dev/#"):
            pytest.fail("listen yielded without MQTT")


async def test_listen_gives_up_when_the_broker_never_connects(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    transport = HomeAssistantTransport(hass)
    with (
        patch.object(ha_transport, "_SUBSCRIBE_TIMEOUT", 0.05),
        patch("homeassistant.components.mqtt.is_connected", return_value=False),
        pytest.raises(TransportError, match="not connected to the MQTT broker"),
    ):
        async with transport.listen("stat/dev/#"):
            pytest.fail("listen yielded while disconnected")


async def test_a_refused_subscription_is_a_transport_error(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    transport = HomeAssistantTransport(hass)
    with (
        patch(
            "homeassistant.components.mqtt.async_subscribe",
            side_effect=HomeAssistantError("subscribe refused"),
        ),
        pytest.raises(TransportError, match=r"MQTT subscribe to stat/dev/# failed: subscribe"),
    ):
        async with transport.listen("stat/dev/#"):
            pytest.fail("listen yielded without a subscription")


async def test_changed_client_internals_fall_back_to_waiting(
    hass: HomeAssistant, mqtt_bus: MqttBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ha_transport.__name__)
    transport = HomeAssistantTransport(hass)
    client = hass.data[mqtt.DATA_MQTT].client
    with (
        patch.object(ha_transport, "_SUBSCRIBE_SETTLE", 0.01),
        patch.object(client, "_subscribe_debouncer", object()),
    ):
        async with transport.listen("stat/dev/#") as queue:
            assert "MQTT client internals changed" in caplog.text
            async_fire_mqtt_message(hass, "stat/dev/RESULT", '{"TLSKey":"Done"}')
            await hass.async_block_till_done()
            message = queue.get_nowait()
    assert (message.topic, message.payload, message.retain) == (
        "stat/dev/RESULT",
        '{"TLSKey":"Done"}',
        False,
    )
    # Unsubscribed on leaving: later messages are not queued.
    async_fire_mqtt_message(hass, "stat/dev/RESULT", "late")
    await hass.async_block_till_done()
    assert queue.empty()


async def test_a_subscription_never_acknowledged_times_out(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    transport = HomeAssistantTransport(hass)
    client = hass.data[mqtt.DATA_MQTT].client

    class AlwaysPending(dict[str, int]):
        def __contains__(self, key: object) -> bool:
            return True

    with (
        patch.object(ha_transport, "_SUBSCRIBE_TIMEOUT", 0.2),
        patch.object(client, "_pending_subscriptions", AlwaysPending()),
        pytest.raises(TransportError, match=r"MQTT subscribe to stat/dev/# timed out"),
    ):
        async with transport.listen("stat/dev/#"):
            pytest.fail("listen yielded without a SUBACK")
