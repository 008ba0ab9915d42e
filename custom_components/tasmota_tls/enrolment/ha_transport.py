"""The engine's transport inside Home Assistant: its MQTT client and HTTP session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .http_cm import fetch_cm
from .transport import MqttMessage, TransportError

_LOGGER = logging.getLogger(__name__)

# Home Assistant batches subscriptions (0.1 s cooldown once running); when its
# internals cannot be awaited we wait this long for the SUBACK instead.
_SUBSCRIBE_SETTLE = 1.0
_SUBSCRIBE_POLL = 0.02  # seconds between checks while another subscribe job runs
_SUBSCRIBE_TIMEOUT = 10.0


class HomeAssistantTransport:
    """Transport over homeassistant.components.mqtt and the shared aiohttp session."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass

    async def http_command(
        self,
        ip: str,
        port: int,
        command: str,
        password: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        session = async_get_clientsession(self._hass)
        return await fetch_cm(session, ip, port, command, password=password, seconds=timeout)

    async def publish(self, topic: str, payload: str) -> None:
        try:
            await mqtt.async_publish(self._hass, topic, payload, qos=0, retain=False)
        except HomeAssistantError as err:
            raise TransportError("mqtt", f"MQTT publish to {topic} failed: {err}") from None

    @contextlib.asynccontextmanager
    async def listen(self, topic_filter: str) -> AsyncIterator[asyncio.Queue[MqttMessage]]:
        queue: asyncio.Queue[MqttMessage] = asyncio.Queue()

        @callback
        def _received(message: mqtt.ReceiveMessage) -> None:
            payload = message.payload
            if isinstance(payload, bytes):
                payload = payload.decode("utf-8", errors="replace")
            queue.put_nowait(MqttMessage(message.topic, str(payload), bool(message.retain)))

        await self._connected()
        try:
            unsubscribe = await mqtt.async_subscribe(self._hass, topic_filter, _received)
        except HomeAssistantError as err:
            raise TransportError(
                "mqtt", f"MQTT subscribe to {topic_filter} failed: {err}"
            ) from None
        try:
            await self._subscribed(topic_filter)
            yield queue
        finally:
            unsubscribe()

    async def _connected(self) -> None:
        """Wait (bounded) for the broker connection.

        Subscribed while connected, a topic is queued at once and _subscribed can
        follow it; subscribed before, it would only join the resubscription later.
        """
        connected = asyncio.Event()

        @callback
        def _state(is_connected: bool) -> None:
            if is_connected:
                connected.set()

        stop = mqtt.async_subscribe_connection_status(self._hass, _state)
        try:
            if mqtt.is_connected(self._hass):
                return
            async with asyncio.timeout(_SUBSCRIBE_TIMEOUT):
                await connected.wait()
        except KeyError:
            raise TransportError("mqtt", "MQTT is not set up") from None
        except TimeoutError:
            raise TransportError("mqtt", "not connected to the MQTT broker") from None
        finally:
            stop()

    async def _subscribed(self, topic_filter: str) -> None:
        """Wait until the broker has acknowledged the subscription to ``topic_filter``.

        The client batches subscriptions in a job; a job already running (e.g. the
        resubscription after connecting) does not carry ours, so run the job until
        ours is no longer pending: the job that took it waited for the SUBACK.
        """
        try:
            client = self._hass.data[mqtt.DATA_MQTT].client
            async with asyncio.timeout(_SUBSCRIBE_TIMEOUT):
                while True:
                    await client._subscribe_debouncer.async_execute()
                    if topic_filter not in client._pending_subscriptions:
                        return
                    # The job may return at once while another one runs: yield to the
                    # loop, or this would spin and starve everything (the timeout too).
                    await asyncio.sleep(_SUBSCRIBE_POLL)
        except (AttributeError, KeyError, TypeError):
            _LOGGER.debug("MQTT client internals changed; waiting for the subscription instead")
            await asyncio.sleep(_SUBSCRIBE_SETTLE)
        except TimeoutError:
            raise TransportError("mqtt", f"MQTT subscribe to {topic_filter} timed out") from None
