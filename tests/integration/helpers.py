"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from homeassistant.const import MATCH_ALL
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.const import DOMAIN, EVENT_TASMOTA_TLS
from custom_components.tasmota_tls.device_links import mac_connection


async def wait_for(
    hass: HomeAssistant, predicate: Callable[[], bool], seconds: float = 10.0
) -> None:
    """Wait until ``predicate`` holds, re-checking after every event on the bus (bounded)."""
    changed = asyncio.Event()

    @callback
    def poke(_event: Event) -> None:
        changed.set()

    unsubscribe = hass.bus.async_listen(MATCH_ALL, poke)
    try:
        async with asyncio.timeout(seconds):
            while not predicate():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()
    await hass.async_block_till_done()


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    """The entity ID registered for one of our unique IDs."""
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, f"no {platform} entity with unique ID {unique_id}"
    return found


def state_of(hass: HomeAssistant, platform: str, unique_id: str) -> State:
    """The current state of one of our entities."""
    state = hass.states.get(entity_id(hass, platform, unique_id))
    assert state is not None
    return state


def collect_events(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Every tasmota_tls_event's data, in order."""
    events: list[dict[str, Any]] = []

    @callback
    def record(event: Event) -> None:
        events.append(dict(event.data))

    hass.bus.async_listen(EVENT_TASMOTA_TLS, record)
    return events


def device_of(hass: HomeAssistant, mac: str) -> dr.DeviceEntry:
    """The one registry device with ``mac``'s connection (never two for one MAC)."""
    devices = dr.async_get(hass).async_get_devices(connections={mac_connection(mac)})
    assert len(devices) == 1, f"{len(devices)} devices for {mac}: {devices}"
    return devices[0]


class WebRecorder:
    """A web server on an attacker's address: records every request, answers like a
    TLSKey build (so nothing but the record tells the test a key was sent)."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        return web.json_response({"TLSKey1": 32, "TLSKey2": 500})


async def setup_tasmota(hass: HomeAssistant) -> MockConfigEntry:
    """Home Assistant's Tasmota integration, following the standard discovery prefix."""
    entry = MockConfigEntry(domain="tasmota", data={"discovery_prefix": "tasmota/discovery"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
