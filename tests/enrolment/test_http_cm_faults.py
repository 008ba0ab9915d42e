"""HTTP /cm faults a real device can show, each turned into the transport's own error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from custom_components.tasmota_tls.enrolment.http_cm import fetch_cm
from custom_components.tasmota_tls.enrolment.transport import TransportError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[[Handler], Awaitable[int]]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    await asyncio.sleep(1)  # a device that froze after accepting the connection
    writer.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    writer.write(b"this is not HTTP\r\n\r\n")  # a half-flashed web server
    await writer.drain()
    writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_device_that_does_not_answer_times_out(
    serve: Callable[..., Awaitable[int]],
) -> None:
    port = await serve(_silent)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TransportError) as caught:
            await fetch_cm(session, "127.0.0.1", port, "Status 6", password=None, seconds=0.3)
    assert caught.value.kind == "timeout"


async def test_a_reply_that_is_not_http_is_a_bad_reply(
    serve: Callable[..., Awaitable[int]],
) -> None:
    port = await serve(_garbage)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TransportError) as caught:
            await fetch_cm(session, "127.0.0.1", port, "Status 6", password=None, seconds=5)
    assert caught.value.kind == "bad_reply"
    assert "127.0.0.1" in str(caught.value)
