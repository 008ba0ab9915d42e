"""Which MQTT discovery messages may offer Tasmota TLS under *Discovered*.

Home Assistant's MQTT discovery starts a flow for a topic only once, for the first
integration whose manifest matches it, and then logs "Ignoring already processed
discovery message" for every other one. Home Assistant's own Tasmota integration
claims ``tasmota/discovery/#``, so a manifest entry there alone never reaches us.
The manifest also names each device's retained will, ``tele/<topic>/LWT`` (Tasmota's
default FullTopic), which no other integration claims. Any client can publish such a
topic, so an offer is made only when a Tasmota discovery config names that will.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback

from .discovery import DISCOVERY_CONFIG_SUBSCRIPTION, mac_from_config_topic, parse_discovery_config
from .host_probe import DISCOVERY_SETTLE, async_wait_subscribed

_LOGGER = logging.getLogger(__name__)

# The retained configs arrive right after the SUBACK; this bounds a broker that is slow.
CONFIRM_TIMEOUT = 5.0


def is_tasmota_config_topic(topic: str) -> bool:
    """``tasmota/discovery/<MAC>/config``."""
    return mac_from_config_topic(topic) is not None


async def async_will_of_a_tasmota(hass: HomeAssistant, lwt_topic: str) -> bool:
    """True when a retained Tasmota discovery config names ``lwt_topic`` as its will."""
    found = asyncio.Event()

    @callback
    def on_config(msg: mqtt.ReceiveMessage) -> None:
        try:
            device = parse_discovery_config(str(msg.payload))
        except ValueError:
            return
        if device.lwt_topic == lwt_topic:
            found.set()

    unsubscribe = await mqtt.async_subscribe(hass, DISCOVERY_CONFIG_SUBSCRIPTION, on_config)
    try:
        async with asyncio.timeout(CONFIRM_TIMEOUT):
            if await async_wait_subscribed(hass, DISCOVERY_CONFIG_SUBSCRIPTION):
                # Retained messages follow the acknowledgement: give them a moment.
                async with asyncio.timeout(DISCOVERY_SETTLE * 3):
                    await found.wait()
    except TimeoutError:
        pass
    finally:
        unsubscribe()
    if not found.is_set():
        _LOGGER.debug("No Tasmota discovery config names %s: no offer", lwt_topic)
    return found.is_set()
