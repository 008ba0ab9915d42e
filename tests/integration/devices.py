"""A device the tests bring to the integration: announced on the bus, or enrolled over TLS."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from tests.helpers.constants import MAC

from .actions import press
from .helpers import device_of, state_of, wait_for
from .install import BROKER_HOST, discovery_payload, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice


def tls_status(hass: HomeAssistant, entry_id: str) -> str:
    """The state of the device's TLS status sensor."""
    return state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state


def tlskey_publishes(bus: MqttBus, since: int) -> list[str]:
    return [topic for topic, _, _ in bus.published[since:] if "/TLSKey" in topic]


async def discovered(hass: HomeAssistant, bus: MqttBus) -> str:
    """Announce the device; return its device registry ID."""
    bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    device = device_of(hass, MAC)
    assert device is not None
    return device.id


async def enrolled_device(hass: HomeAssistant, bus: MqttBus) -> tuple[Any, PlaybackDevice]:
    """Install over the MQTT channel and enrol the played-back device."""
    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    fingerprint = await hass.async_add_executor_job(lambda: installed.broker_fingerprint)
    broker = BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint)
    device = PlaybackDevice(bus, broker, mac=MAC)
    device.announce()
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    await press(hass, entry_id, "enrol")
    await wait_for(hass, lambda: tls_status(hass, entry_id) == "connected_tls")
    return installed, device
