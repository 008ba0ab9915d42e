"""The broker step's name check: an IP is itself, a name is asked of the resolver once.

The test harness refuses DNS (and no test may ask a DNS server), so the event loop's
resolver is replaced by one that answers like getaddrinfo for loopback names only.
"""

from __future__ import annotations

import socket
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.broker_check import async_check_broker, async_resolve
from tests.helpers.mosquitto import free_port


def getaddrinfo_for(table: dict[str, list[str]]) -> Any:
    async def getaddrinfo(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in table[host]
        ]

    return getaddrinfo


async def test_an_ip_address_is_its_own_answer(hass: HomeAssistant) -> None:
    with patch.object(hass.loop, "getaddrinfo", getaddrinfo_for({})):
        assert await async_resolve(hass, "127.0.0.1", 8883) == ("127.0.0.1",)


async def test_a_name_resolves_once_per_address(hass: HomeAssistant) -> None:
    table = {"mqtt.test": ["127.0.0.1", "127.0.0.1", "127.0.0.2"]}
    with patch.object(hass.loop, "getaddrinfo", getaddrinfo_for(table)):
        assert await async_resolve(hass, "mqtt.test", 8883) == ("127.0.0.1", "127.0.0.2")
        assert await async_resolve(hass, "mqtt.hoem.lan", 8883) == ()


async def test_the_check_says_whether_the_port_answers(hass: HomeAssistant) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with patch.object(hass.loop, "getaddrinfo", getaddrinfo_for({"mqtt.test": ["127.0.0.1"]})):
            answered = await async_check_broker(hass, "mqtt.test", port)
            silent = await async_check_broker(hass, "mqtt.test", free_port())
            unknown = await async_check_broker(hass, "mqtt.hoem.lan", port)
    finally:
        listener.close()
    assert answered.resolves and answered.answers
    assert silent.resolves and not silent.answers
    assert not unknown.resolves and not unknown.answers
