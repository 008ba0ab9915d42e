"""A transport without Home Assistant, for the tests: aiohttp + paho-mqtt.

It talks to loopback addresses only (127.0.0.0/8, ::1): it exists to drive
simulated devices and test brokers, never a real network. paho runs its network
loop in one thread, stopped and joined by close().
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import threading
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
import paho.mqtt.client as paho

from custom_components.tasmota_tls.enrolment.http_cm import fetch_cm
from custom_components.tasmota_tls.enrolment.transport import MqttMessage, TransportError


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"PlainTransport reaches loopback addresses only, not {host!r}")


class PlainTransport:
    """Transport on aiohttp and paho-mqtt 2.x; use ``async with PlainTransport(...)``."""

    def __init__(
        self,
        mqtt_host: str = "127.0.0.1",
        mqtt_port: int = 1883,
        *,
        tls_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
        connect_timeout: float = 10.0,
    ) -> None:
        _require_loopback(mqtt_host)
        self._host = mqtt_host
        self._port = mqtt_port
        self._connect_timeout = connect_timeout
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        if tls_context is not None:
            self._client.tls_set_context(tls_context)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._connected: asyncio.Future[bool] | None = None
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._lock = threading.Lock()
        self._listeners: list[tuple[str, asyncio.Queue[MqttMessage]]] = []
        self._subscriptions: dict[str, int] = {}  # filter -> number of listeners

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> PlainTransport:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self._connected = self._loop.create_future()
        try:
            await asyncio.to_thread(self._client.connect, self._host, self._port, 30)
        except OSError as err:
            await self.close()
            raise TransportError("mqtt", f"broker {self._host}:{self._port}: {err}") from None
        self._client.loop_start()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._connected
        except TimeoutError:
            await self.close()
            raise TransportError("mqtt", f"broker {self._host}:{self._port} refused us") from None

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -------------------------------------------------------------------- protocol

    async def http_command(
        self,
        ip: str,
        port: int,
        command: str,
        password: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        _require_loopback(ip)
        if self._session is None:
            raise TransportError("unreachable", "transport not started")
        return await fetch_cm(self._session, ip, port, command, password=password, seconds=timeout)

    async def publish(self, topic: str, payload: str) -> None:
        info = self._client.publish(topic, payload, qos=0, retain=False)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise TransportError("mqtt", f"MQTT publish to {topic} failed (rc {info.rc})")

    @contextlib.asynccontextmanager
    async def listen(self, topic_filter: str) -> AsyncIterator[asyncio.Queue[MqttMessage]]:
        queue: asyncio.Queue[MqttMessage] = asyncio.Queue()
        entry = (topic_filter, queue)
        with self._lock:
            self._listeners.append(entry)
            first = self._subscriptions.get(topic_filter, 0) == 0
            self._subscriptions[topic_filter] = self._subscriptions.get(topic_filter, 0) + 1
        try:
            if first:
                await self._subscribe(topic_filter)
            yield queue
        finally:
            with self._lock:
                self._listeners.remove(entry)
                self._subscriptions[topic_filter] -= 1
                last = self._subscriptions[topic_filter] == 0
                if last:
                    del self._subscriptions[topic_filter]
            if last:
                self._client.unsubscribe(topic_filter)

    async def _subscribe(self, topic_filter: str) -> None:
        assert self._loop is not None
        ack: asyncio.Future[None] = self._loop.create_future()
        with self._lock:  # the SUBACK may arrive before subscribe() returns
            result, mid = self._client.subscribe(topic_filter, qos=0)
            if result != paho.MQTT_ERR_SUCCESS or mid is None:
                raise TransportError("mqtt", f"MQTT subscribe to {topic_filter} failed")
            self._acks[mid] = ack
        try:
            async with asyncio.timeout(self._connect_timeout):
                await ack
        except TimeoutError:
            raise TransportError("mqtt", f"no SUBACK for {topic_filter}") from None
        finally:
            with self._lock:
                self._acks.pop(mid, None)

    # --------------------------------------------------- paho callbacks (its thread)

    def _call(self, func: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(func, *args)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        ok = not reason.is_failure

        def settle() -> None:
            if self._connected is not None and not self._connected.done():
                if ok:
                    self._connected.set_result(True)
                else:
                    self._connected.set_exception(TransportError("mqtt", f"CONNACK {reason}"))
            elif ok:  # a reconnection: the broker forgot clean-session subscriptions
                with self._lock:
                    filters = list(self._subscriptions)
                for topic_filter in filters:
                    self._client.subscribe(topic_filter, qos=0)

        self._call(settle)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        with self._lock:
            ack = self._acks.get(mid)
        if ack is not None:
            self._call(_settle, ack)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        received = MqttMessage(
            message.topic, message.payload.decode("utf-8", errors="replace"), bool(message.retain)
        )
        with self._lock:
            targets = [q for f, q in self._listeners if paho.topic_matches_sub(f, message.topic)]
        for queue in targets:
            self._call(queue.put_nowait, received)
