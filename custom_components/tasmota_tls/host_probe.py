"""Ask discovered Tasmota devices which MqttHost they use.

The broker name the user enters becomes every device's MqttHost and the name in the
broker certificate. When devices currently reach the broker under another name, the
config flow warns before anything is changed.

Home Assistant's ``mqtt.async_subscribe`` returns before the broker has the
subscription (the SUBSCRIBE goes out after a short debounce). A ``Status 6`` sent
before that is answered into the void, so every question here waits for the broker's
SUBACK first, and the probe ends as soon as every device asked has answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .discovery import DISCOVERY_CONFIG_SUBSCRIPTION, TasmotaDevice, parse_discovery_config

_LOGGER = logging.getLogger(__name__)

# Upper bounds, not waits: the probe returns as soon as the answers are in.
SUBSCRIBE_TIMEOUT = 5.0  # the broker acknowledges a subscription
DISCOVERY_SETTLE = 0.3  # retained configs follow the SUBACK back to back
REPLY_TIMEOUT = 2.0  # a device answers Status 6 within milliseconds when online
PROBE_SECONDS = 8.0  # the whole probe, whatever happens
MAX_PROBED_DEVICES = 16


def mqtt_host_from_status6(payload: str) -> str | None:
    """The MqttHost in a ``Status 6`` reply, or None."""
    try:
        status = json.loads(payload)["StatusMQT"]
        host = status["MqttHost"]
    except (ValueError, KeyError, TypeError):
        return None
    return host if isinstance(host, str) and host else None


async def async_wait_subscribed(hass: HomeAssistant, topic: str) -> bool:
    """Wait until the broker acknowledged ``topic`` (call right after async_subscribe)."""
    done = asyncio.Event()
    stop = mqtt.async_on_subscribe_done(hass, topic, 0, done.set)
    try:
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            await done.wait()
    except TimeoutError:
        _LOGGER.debug("The broker did not acknowledge %s in %s s", topic, SUBSCRIBE_TIMEOUT)
        return False
    finally:
        stop()
    return True


class _Probe:
    """One round of questions; ``hosts`` holds the answers."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.hosts: set[str] = set()
        self.asked: dict[str, TasmotaDevice] = {}
        self.answered: set[str] = set()
        self.unsubscribes: list[CALLBACK_TYPE] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.changed = asyncio.Event()
        self.last_discovery = time.monotonic()

    @callback
    def on_discovery(self, msg: mqtt.ReceiveMessage) -> None:
        if len(self.asked) >= MAX_PROBED_DEVICES:
            return
        try:
            device = parse_discovery_config(str(msg.payload))
        except ValueError:
            return
        if device.mac in self.asked:
            return
        self.asked[device.mac] = device
        self.last_discovery = time.monotonic()
        self.tasks.add(self.hass.async_create_task(self.ask(device), eager_start=True))
        self.changed.set()

    async def ask(self, device: TasmotaDevice) -> None:
        topic = device.stat_topic("STATUS6")

        @callback
        def on_status(msg: mqtt.ReceiveMessage) -> None:
            if (host := mqtt_host_from_status6(str(msg.payload))) is not None:
                self.hosts.add(host)
            self.answered.add(device.mac)
            self.changed.set()

        self.unsubscribes.append(await mqtt.async_subscribe(self.hass, topic, on_status))
        if not await async_wait_subscribed(self.hass, topic):
            self.answered.add(device.mac)  # no answer could reach us: stop waiting for it
            self.changed.set()
            return
        await mqtt.async_publish(self.hass, device.command_topic("Status"), "6")

    def done(self) -> bool:
        """No new device for a moment, and every device asked has answered."""
        settled = time.monotonic() - self.last_discovery >= DISCOVERY_SETTLE
        return settled and self.answered >= set(self.asked)

    async def run(self) -> None:
        self.unsubscribes.append(
            await mqtt.async_subscribe(self.hass, DISCOVERY_CONFIG_SUBSCRIPTION, self.on_discovery)
        )
        if not await async_wait_subscribed(self.hass, DISCOVERY_CONFIG_SUBSCRIPTION):
            return
        self.last_discovery = time.monotonic()  # retained configs arrive from now on
        reply_deadline: float | None = None
        while not self.done():
            now = time.monotonic()
            if self.asked and self.answered < set(self.asked):
                # Silent devices (offline, frozen) must not hold the flow up for long.
                reply_deadline = reply_deadline or now + REPLY_TIMEOUT
                if now >= reply_deadline:
                    return
            self.changed.clear()
            wait = DISCOVERY_SETTLE if reply_deadline is None else reply_deadline - now
            try:
                async with asyncio.timeout(max(wait, 0.01)):
                    await self.changed.wait()
            except TimeoutError:
                pass

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for unsubscribe in self.unsubscribes:
            unsubscribe()


async def async_probe_mqtt_hosts(hass: HomeAssistant, seconds: float | None = None) -> set[str]:
    """The MqttHost every discovered device answers, within ``seconds`` (PROBE_SECONDS)."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        return set()
    probe = _Probe(hass)
    started = time.monotonic()
    try:
        async with asyncio.timeout(PROBE_SECONDS if seconds is None else seconds):
            await probe.run()
    except TimeoutError:
        pass
    finally:
        probe.close()
    _LOGGER.debug(
        "Devices report MqttHost %s (%d of %d answered in %.2f s)",
        sorted(probe.hosts),
        len(probe.answered & set(probe.asked)),
        len(probe.asked),
        time.monotonic() - started,
    )
    return probe.hosts
