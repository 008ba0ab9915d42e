"""From Home Assistant's side: does the broker name resolve, and does host:port answer?

Devices resolve the name themselves, so this cannot prove that they will reach the
broker; but a name Home Assistant cannot resolve is usually a typo, and a port where
nothing answers means enrolments would roll back minutes later. Both are warnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from dataclasses import dataclass

from homeassistant.core import HomeAssistant

_LOGGER = logging.getLogger(__name__)

RESOLVE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class BrokerCheck:
    """What Home Assistant found for one host and port."""

    addresses: tuple[str, ...]  # empty: the name does not resolve
    answers: bool  # a TCP connection to one of the addresses was accepted

    @property
    def resolves(self) -> bool:
        return bool(self.addresses)


async def async_resolve(hass: HomeAssistant, host: str, port: int) -> tuple[str, ...]:
    """The addresses ``host`` resolves to (an IP address resolves to itself)."""
    with contextlib.suppress(ValueError):
        return (str(ipaddress.ip_address(host)),)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await hass.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as err:
        _LOGGER.debug("The broker name %s does not resolve: %s", host, err)
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


async def async_answers(address: str, port: int) -> bool:
    """True when a TCP connection to address:port is accepted (then closed at once)."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            _, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def async_check_broker(hass: HomeAssistant, host: str, port: int) -> BrokerCheck:
    """Resolve ``host``, then try its addresses on ``port`` until one answers."""
    addresses = await async_resolve(hass, host, port)
    for address in addresses:
        if await async_answers(address, port):
            return BrokerCheck(addresses, True)
    return BrokerCheck(addresses, False)
