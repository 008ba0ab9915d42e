"""Give new virtual devices names, as a person does once in each device's web console.

Every Tasmota is called "Tasmota" out of the box; five of them in one list are hard to
tell apart. Names go in over each device's own web server, followed by a restart so the
device announces itself again (discovery) under its new name.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from virtual_tasmota.fleet import device_addresses

NAMES = ("Kitchen plug", "Desk lamp", "Hall light", "Garage door", "Coffee machine",
         "Fan", "Heater", "Porch light", "TV", "Printer")  # fmt: skip


def name_for(index: int) -> str:
    return NAMES[index] if index < len(NAMES) else f"Plug {index + 1}"


async def _command(session: aiohttp.ClientSession, ip: str, port: int, command: str) -> None:
    async with session.get(f"http://{ip}:{port}/cm", params={"cmnd": command}) as response:
        response.raise_for_status()


async def name_devices(
    first_ip: str,
    count: int,
    http_port: int,
    *,
    only: list[int],
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """DeviceName and FriendlyName1 for the devices ``only`` lists, then a restart."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for index, ip in enumerate(device_addresses(first_ip, count)):
            if index not in only:
                continue
            name = name_for(index)
            while True:
                try:
                    await _command(session, ip, http_port, f"Backlog DeviceName {name}; "
                                   f"FriendlyName1 {name}; Restart 1")  # fmt: skip
                    break
                except (aiohttp.ClientError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
