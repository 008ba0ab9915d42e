"""Home Assistant under a stand-in Supervisor whose Mosquitto add-on is a real Mosquitto.

HA's hassio integration is not set up (it would need the whole Supervisor API): the test
registers "hassio" as loaded and gives the real Supervisor client (aiohasupervisor, as
get_supervisor_client builds it) the fake's loopback address, the way HA's own hassio
tests point it at their mock. Everything else is real: the AddonManager, HA's MQTT
integration on the add-on's broker, the virtual fleet and the BearSSL client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homeassistant.components.hassio.const import DATA_COMPONENT
from homeassistant.components.hassio.handler import HassIO
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from custom_components.tasmota_tls.addon import files, service
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.engine_timing import use_engine_timing

from .addon_mosquitto import AddonMosquitto
from .supervisor import TOKEN, FakeSupervisor
from .world import USER_OPTIONS, AddonWorld


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/tasmota_tls."""


@pytest.fixture
def engine_timing() -> EngineTiming:
    """Bounded waits for virtual devices behind the stand-in add-on (it restarts)."""
    return EngineTiming(step_timeout=5.0, poll_interval=0.2, wait_online_timeout=30.0)


@pytest.fixture(autouse=True)
def runtime_with_engine_timing(
    engine_timing: EngineTiming, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry a test sets up runs the engine with ``engine_timing``."""
    use_engine_timing(monkeypatch, engine_timing)


@pytest.fixture
async def addon_world(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AddonWorld]:
    ssl_dir, share_dir = tmp_path / "ssl", tmp_path / "share"
    ssl_dir.mkdir()
    share_dir.mkdir()
    monkeypatch.setattr(files, "SSL_ROOT", ssl_dir)
    monkeypatch.setattr(files, "SHARE_ROOT", share_dir)
    monkeypatch.setattr(service, "VERIFY_SECONDS", 20.0)
    monkeypatch.setenv("SUPERVISOR_TOKEN", TOKEN)
    addon = AddonMosquitto(tmp_path / "addon", ssl_dir, share_dir)
    supervisor = FakeSupervisor(addon)
    supervisor.stored = dict(USER_OPTIONS)
    await hass.async_add_executor_job(addon.start, supervisor.options)
    assert addon.broker is not None
    ports = addon.broker.ports
    monkeypatch.setattr(
        service, "PORT_MAP",
        {1883: ports["port"], 1884: ports["ws_port"], 8883: addon.tls_ports["tls_port"],
         8884: addon.tls_ports["wss_port"]},
    )  # fmt: skip
    await supervisor.start()
    monkeypatch.setenv("SUPERVISOR", f"127.0.0.1:{supervisor.port}")
    hass.data[DATA_COMPONENT] = HassIO(
        hass.loop, async_get_clientsession(hass), f"127.0.0.1:{supervisor.port}"
    )
    hass.config.components.add("hassio")
    try:
        yield AddonWorld(supervisor, addon, ssl_dir, share_dir)
    finally:
        await supervisor.stop()
        await hass.async_add_executor_job(addon.stop)
