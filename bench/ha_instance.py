"""Home Assistant in this process, built the way its test harness builds it, without mocks.

Only what the integration needs is set up: core, http on a loopback port, MQTT on the
bench's broker, Home Assistant's own Tasmota integration (HATasmota, as a Home Assistant
with Tasmota devices has it) and this integration. Config entries are written to storage first, as
Home Assistant would have saved them, so setup runs through the normal path. Running
in-process lets a probe task share Home Assistant's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeassistant import auth, bootstrap, config_entries, loader
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.setup import async_setup_component

from devtools import loopback_hass
from devtools.hass_config import write_http_store
from tests.helpers.mosquitto import free_port

LOOPBACK = "127.0.0.1"


def stored_entry(
    domain: str,
    data: dict[str, Any],
    *,
    options: dict[str, Any] | None = None,
    title: str,
    unique_id: str | None = None,
    version: tuple[int, int] = (1, 1),
) -> dict[str, Any]:
    """A config entry as Home Assistant 2025.4 keeps it in .storage/core.config_entries."""
    now = datetime.now(UTC).isoformat()
    return {
        "created_at": now,
        "data": data,
        "discovery_keys": {},
        "disabled_by": None,
        "domain": domain,
        "entry_id": uuid.uuid4().hex[:26].upper(),
        "minor_version": version[1],
        "modified_at": now,
        "options": options or {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": title,
        "unique_id": unique_id,
        "version": version[0],
    }


def write_store(config_dir: Path, key: str, data: Any, version: tuple[int, int] = (1, 1)) -> None:
    """One .storage file, as Home Assistant's Store writes it."""
    path = config_dir / ".storage" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": version[0], "minor_version": version[1], "key": key, "data": data}
    path.write_text(json.dumps(document))


def mqtt_entry(broker_port: int) -> dict[str, Any]:
    return stored_entry(
        "mqtt", {"broker": LOOPBACK, "port": broker_port}, title=LOOPBACK, version=(1, 2)
    )


def tasmota_entry() -> dict[str, Any]:
    """Home Assistant's Tasmota integration on the firmware's default discovery prefix."""
    return stored_entry("tasmota", {"discovery_prefix": "tasmota/discovery"}, title="Tasmota")


async def start_home_assistant(
    config_dir: Path, domains: tuple[str, ...] = ("mqtt", "tasmota", "tasmota_tls")
) -> HomeAssistant:
    """Home Assistant on ``config_dir`` with its stored entries set up and running."""
    yaml = config_dir / "configuration.yaml"
    if not yaml.exists():
        yaml.write_text("homeassistant:\n")  # MQTT reads it for YAML-defined entities
    loopback_hass.install()  # no mDNS resolver: it would join multicast groups off loopback
    hass = HomeAssistant(str(config_dir))
    hass.config.skip_pip = True
    hass.config.skip_pip_packages = []
    await hass.config.async_set_time_zone("UTC")
    loader.async_setup(hass)
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await loader.async_get_custom_components(hass)
    await bootstrap.async_load_base_functionality(hass)  # registries, stored entries
    hass.auth = await auth.auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    hass.set_state(CoreState.not_running)
    assert await async_setup_component(hass, "homeassistant", {})
    # HTTP settings given in YAML would be a "pending" trial, and Home Assistant restarts
    # itself when nobody confirms one within 5 minutes: a long run would stop halfway.
    # The confirmed store is what a running Home Assistant has.
    write_http_store(config_dir, free_port())
    assert await async_setup_component(hass, "http", {})
    for domain in domains:
        assert await async_setup_component(hass, domain, {})
    await hass.async_start()
    await hass.async_block_till_done()
    return hass


async def stop_home_assistant(hass: HomeAssistant) -> None:
    await hass.async_stop(force=True)


@dataclass
class LoopLagProbe:
    """Sleeps ``interval`` seconds again and again on the loop; records how late it wakes.

    A wake-up later than asked means something held the loop: the lateness is the stall.
    Python's garbage collector stops every thread while it runs; its pauses are timed
    too, so a stall can be told apart from work done by the code on the loop.
    """

    interval: float = 0.010
    lags: list[float] = field(default_factory=list)
    worst_at: float = 0.0  # seconds after start
    max_outside_gc: float = 0.0  # longest stall that overlapped no collection
    gc_pauses: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._started = time.perf_counter()
        self._worst = 0.0
        self._gc_started = 0.0
        self._gc_last_end = 0.0
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        else:
            self.gc_pauses.append(now - self._gc_started)
            self._gc_last_end = now

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            lag = max(0.0, now - before - self.interval)
            if lag > self._worst:
                self._worst, self.worst_at = lag, now - self._started
            if self._gc_last_end < before:  # no collection ended during this sleep
                self.max_outside_gc = max(self.max_outside_gc, lag)
            self.lags.append(lag)

    @property
    def max_ms(self) -> float:
        return max(self.lags, default=0.0) * 1000

    @property
    def max_outside_gc_ms(self) -> float:
        return self.max_outside_gc * 1000

    @property
    def max_gc_ms(self) -> float:
        return max(self.gc_pauses, default=0.0) * 1000

    @property
    def gc_total_ms(self) -> float:
        return sum(self.gc_pauses) * 1000

    @property
    def p99_ms(self) -> float:
        if len(self.lags) < 2:
            return self.max_ms
        return statistics.quantiles(self.lags, n=100)[98] * 1000
