"""Ask discovered Tasmota devices which MqttHost they use.

The broker name the user enters becomes every device's MqttHost and the name in the
broker certificate. When devices currently reach the broker under another name, the
config flow warns before anything is changed.
"""

from __future__ import annotations

import asyncio
import json
import logging

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .discovery import DISCOVERY_CONFIG_SUBSCRIPTION, TasmotaDevice, parse_discovery_config

_LOGGER = logging.getLogger(__name__)

PROBE_SECONDS = 3.0
MAX_PROBED_DEVICES = 16


def mqtt_host_from_status6(payload: str) -> str | None:
    """The MqttHost in a ``Status 6`` reply, or None."""
    try:
        status = json.loads(payload)["StatusMQT"]
        host = status["MqttHost"]
    except (ValueError, KeyError, TypeError):
        return None
    return host if isinstance(host, str) and host else None


async def async_probe_mqtt_hosts(hass: HomeAssistant, seconds: float | None = None) -> set[str]:
    """Collect the MqttHost of discovered devices for up to ``seconds`` (PROBE_SECONDS)."""
    seconds = PROBE_SECONDS if seconds is None else seconds
    if not await mqtt.async_wait_for_mqtt_client(hass):
        return set()
    hosts: set[str] = set()
    probed: dict[str, TasmotaDevice] = {}
    unsubscribes: list[CALLBACK_TYPE] = []

    @callback
    def on_status(msg: mqtt.ReceiveMessage) -> None:
        if (host := mqtt_host_from_status6(str(msg.payload))) is not None:
            hosts.add(host)

    async def ask(device: TasmotaDevice) -> None:
        unsubscribes.append(
            await mqtt.async_subscribe(hass, device.stat_topic("STATUS6"), on_status)
        )
        await mqtt.async_publish(hass, device.command_topic("Status"), "6")

    tasks: set[asyncio.Task[None]] = set()

    @callback
    def on_discovery(msg: mqtt.ReceiveMessage) -> None:
        if len(probed) >= MAX_PROBED_DEVICES:
            return
        try:
            device = parse_discovery_config(str(msg.payload))
        except ValueError:
            return
        if device.mac not in probed:
            probed[device.mac] = device
            tasks.add(hass.async_create_task(ask(device), eager_start=True))

    unsubscribes.append(
        await mqtt.async_subscribe(hass, DISCOVERY_CONFIG_SUBSCRIPTION, on_discovery)
    )
    try:
        await asyncio.sleep(seconds)
        if tasks:
            await asyncio.wait(tasks, timeout=seconds)
    finally:
        for task in tasks:
            task.cancel()
        for unsubscribe in unsubscribes:
            unsubscribe()
    _LOGGER.debug("Devices report MqttHost %s", sorted(hosts))
    return hosts
