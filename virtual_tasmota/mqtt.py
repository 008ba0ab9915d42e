"""A small MQTT 3.1.1 client on asyncio streams, shaped like Tasmota's PubSubClient.

Written here rather than borrowed so that the firmware's limits hold exactly: an
incoming packet larger than MQTT_MAX_PACKET_SIZE is read and thrown away without a
word, as PubSubClient does, and hundreds of clients share one event loop cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .firmware import MQTT_MAX_PACKET_SIZE

# PubSubClient state codes, as Tasmota logs them ("rc %d").
MQTT_CONNECTION_TIMEOUT = -4
MQTT_CONNECTION_LOST = -3
MQTT_CONNECT_FAILED = -2
MQTT_DISCONNECTED = -1

_CONNECT, _CONNACK, _PUBLISH, _PUBACK = 1, 2, 3, 4
_SUBSCRIBE, _SUBACK, _PINGREQ, _PINGRESP, _DISCONNECT = 8, 9, 12, 13, 14


class MqttConnectError(Exception):
    """The connection was not established; rc is the PubSubClient state code."""

    def __init__(self, rc: int, reason: str, tls_error: int | None = None) -> None:
        super().__init__(reason)
        self.rc = rc
        self.reason = reason
        self.tls_error = tls_error


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


MessageHandler = Callable[[str, bytes], Awaitable[None] | None]


def encode_remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        digit = length % 128
        length //= 128
        if length:
            digit |= 0x80
        out.append(digit)
        if not length:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet_size(topic: str, payload_len: int, qos: int = 0) -> int:
    """Bytes of a whole PUBLISH packet: what PubSubClient compares with its buffer."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + payload_len
    return 1 + len(encode_remaining_length(remaining)) + remaining


class MqttClient:
    """One connection to a broker. Create a new one for each (re)connection."""

    def __init__(
        self,
        *,
        client_id: str,
        keepalive: int,
        will: Will | None,
        username: str | None,
        password: str | None,
        on_message: MessageHandler,
        on_oversize: Callable[[int], None] | None = None,
    ) -> None:
        self._client_id = client_id
        self._keepalive = keepalive
        self._will = will
        self._username = username
        self._password = password
        self._on_message = on_message
        self._on_oversize = on_oversize
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_id = 0
        self._closed = asyncio.Event()
        self._pong = asyncio.Event()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self.lost_reason: str | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._closed.is_set()

    @property
    def cipher(self) -> str | None:
        """The negotiated cipher suite (OpenSSL name), None without TLS."""
        obj = self.ssl_object
        found = obj.cipher() if obj is not None else None
        return found[0] if found else None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        if self._writer is None:
            return None
        obj = self._writer.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    async def open(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        local_address: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - also the TLS handshake timeout
    ) -> None:
        """Open the TCP (and TLS) connection from local_address; no MQTT traffic yet."""
        try:
            async with asyncio.timeout(timeout):
                self._reader, self._writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=server_hostname if ssl_context else None,
                    ssl_handshake_timeout=timeout if ssl_context else None,
                    local_addr=(local_address, 0) if local_address else None,
                    limit=2**16,
                )
        except TimeoutError as err:
            raise MqttConnectError(MQTT_CONNECT_FAILED, "timeout") from err

    async def handshake(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Send CONNECT, wait for CONNACK, then start the reader and keepalive tasks."""
        assert self._reader is not None and self._writer is not None
        self._writer.write(self._connect_packet())
        try:
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                header = await self._reader.readexactly(2)
                body = await self._reader.readexactly(header[1])
        except TimeoutError as err:
            await self.abort()
            raise MqttConnectError(MQTT_CONNECTION_TIMEOUT, "no CONNACK") from err
        except (OSError, asyncio.IncompleteReadError) as err:
            await self.abort()
            raise MqttConnectError(MQTT_CONNECT_FAILED, f"connection closed: {err}") from err
        if header[0] >> 4 != _CONNACK or len(body) < 2:
            await self.abort()
            raise MqttConnectError(MQTT_CONNECT_FAILED, "unexpected packet instead of CONNACK")
        if body[1] != 0:
            await self.abort()
            raise MqttConnectError(body[1], f"CONNACK refused with code {body[1]}")
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._ping())]

    def _connect_packet(self) -> bytes:
        flags = 0x02  # clean session
        payload = _utf8(self._client_id)
        if self._will is not None:
            flags |= 0x04 | (self._will.qos << 3) | (0x20 if self._will.retain else 0)
            payload += _utf8(self._will.topic)
            payload += struct.pack("!H", len(self._will.payload)) + self._will.payload
        if self._username is not None:
            flags |= 0x80
            payload += _utf8(self._username)
            if self._password is not None:
                flags |= 0x40
                payload += _utf8(self._password)
        variable = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", self._keepalive)
        body = variable + payload
        return bytes([_CONNECT << 4]) + encode_remaining_length(len(body)) + body

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def _send(self, packet: bytes) -> bool:
        if not self.connected:
            return False
        assert self._writer is not None
        try:
            self._writer.write(packet)
            await self._writer.drain()
        except OSError as err:
            self._lost(f"write failed: {err}")
            return False
        return True

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> bool:
        body = _utf8(topic)
        if qos:
            body += struct.pack("!H", self._packet_id())
        body += payload
        first = (_PUBLISH << 4) | (qos << 1) | (1 if retain else 0)
        return await self._send(bytes([first]) + encode_remaining_length(len(body)) + body)

    async def subscribe(self, topic: str, qos: int = 0, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Subscribe and wait for the SUBACK, so that "connected" means "ready for commands"."""
        packet_id = self._packet_id()
        acked = asyncio.get_running_loop().create_future()
        self._pending[packet_id] = acked
        body = struct.pack("!H", packet_id) + _utf8(topic) + bytes([qos])
        packet = bytes([(_SUBSCRIBE << 4) | 0x02]) + encode_remaining_length(len(body)) + body
        try:
            if not await self._send(packet):
                return False
            async with asyncio.timeout(timeout):
                await acked
        except TimeoutError:
            self._lost("no SUBACK")
            return False
        except ConnectionError:
            return False
        finally:
            self._pending.pop(packet_id, None)
        return True

    async def disconnect(self) -> None:
        """Clean DISCONNECT: the broker discards the will."""
        await self._send(bytes([_DISCONNECT << 4, 0]))
        await self.abort()

    async def abort(self) -> None:
        """Drop the connection without DISCONNECT: the broker publishes the will."""
        self._lost(self.lost_reason or "closed")
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._writer.wait_closed()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _lost(self, reason: str) -> None:
        if not self._closed.is_set():
            self.lost_reason = reason
            self._closed.set()
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(reason))
            if self._writer is not None:
                self._writer.close()

    async def _ping(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(self._keepalive)
            self._pong.clear()
            if not await self._send(bytes([_PINGREQ << 4, 0])):
                return
            try:
                async with asyncio.timeout(self._keepalive):
                    await self._pong.wait()
            except TimeoutError:
                self._lost("keepalive timeout")
                return

    async def _read_remaining_length(self) -> int:
        assert self._reader is not None
        multiplier, value = 1, 0
        for _ in range(4):
            digit = (await self._reader.readexactly(1))[0]
            value += (digit & 0x7F) * multiplier
            if not digit & 0x80:
                return value
            multiplier *= 128
        raise ValueError("malformed remaining length")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                first = (await self._reader.readexactly(1))[0]
                remaining = await self._read_remaining_length()
                size = 1 + len(encode_remaining_length(remaining)) + remaining
                body = await self._reader.readexactly(remaining)
                kind = first >> 4
                if kind == _PUBLISH:
                    await self._handle_publish(first, body, size)
                elif kind == _PINGRESP:
                    self._pong.set()
                elif kind == _SUBACK and len(body) >= 2:
                    waiter = self._pending.get(struct.unpack("!H", body[:2])[0])
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
        except (asyncio.IncompleteReadError, OSError, ValueError) as err:
            self._lost(f"connection lost: {err or 'EOF'}")

    async def _handle_publish(self, first: int, body: bytes, size: int) -> None:
        if size > MQTT_MAX_PACKET_SIZE:
            # PubSubClient keeps reading into its full buffer, then ignores the packet.
            if self._on_oversize is not None:
                self._on_oversize(size)
            return
        qos = (first >> 1) & 0x03
        topic_len = struct.unpack("!H", body[:2])[0]
        topic = body[2 : 2 + topic_len].decode(errors="replace")
        offset = 2 + topic_len
        if qos:
            packet_id = body[offset : offset + 2]
            offset += 2
            await self._send(bytes([_PUBACK << 4, 2]) + packet_id)
        result = self._on_message(topic, body[offset:])
        if result is not None:
            await result
