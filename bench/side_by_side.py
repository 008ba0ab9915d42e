"""One side of the comparison with Home Assistant alone, in a fresh process of its own.

``python -m bench.side_by_side --count N --side alone|ours --window S`` prints one JSON line.
Both sides run the same fleet of N virtual devices (firmware restart timings, see
virtual_tasmota/firmware.py) on the same Mosquitto, with Home Assistant, MQTT and Home
Assistant's own Tasmota integration (HATasmota). The "ours" side also sets up tasmota_tls
and enrols every device with default options; the "alone" side restarts every device once,
spread over the same window, so Home Assistant's Tasmota integration sees the same
offline/online churn without us. A fresh process per side keeps one side's heap and
resident memory out of the other's figures.

Measured from just before the Tasmota integration(s) are set up until the work is done:
event-loop stalls (a 10 ms sleeper on Home Assistant's loop), garbage collection pauses
(gc.callbacks), and at the end, after a full collection, the resident memory and the
number of GC-tracked objects added since the start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import ReceiveMessage
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component

from custom_components.tasmota_tls.device_state import TlsStatus
from tests.helpers.mosquitto import MosquittoBroker, free_port
from virtual_tasmota.settings import load_settings

from .fleet import (
    BROKER_CONFIG,
    READY_TIMEOUT,
    _prepare,
    _start_devices,
    _stop_devices,
    _wait,
    _write_entries,
)
from .ha_instance import LoopLagProbe, start_home_assistant, stop_home_assistant
from .startup import rss_mib
from .timeline import Timeline

SETTLE = 1.0  # seconds for MQTT to settle before the first snapshot
ENROL_TIMEOUT = float(os.environ.get("BENCH_ENROL_TIMEOUT", "900"))


def _discovered_by_tasmota(hass: Any) -> int:
    entry = hass.config_entries.async_entries("tasmota")[0]
    return len(dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id))


def _snapshot() -> tuple[int, float]:
    gc.collect()
    return len(gc.get_objects()), rss_mib()


def _types() -> Counter[str]:
    """GC-tracked objects by type (``--types``: where the objects a run adds come from)."""
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


async def _follow_online(hass: Any, timeline: Timeline, mac_of: dict[str, str]) -> Any:
    """Note every live Online on an LWT topic, by device MAC."""

    def seen(message: ReceiveMessage) -> None:
        if message.retain or message.payload != "Online":
            return
        mac = mac_of.get(message.topic.split("/")[1])
        if mac is not None:
            timeline.online[mac].append(time.perf_counter())

    return await mqtt.async_subscribe(hass, "tele/+/LWT", seen)


def _topics(devices_dir: Path) -> dict[str, str]:
    """topic -> MAC from the devices' flash files, as the fleet wrote them."""
    out = {}
    for path in sorted(devices_dir.glob("device-*.json")):
        settings = load_settings(path)
        if settings is not None:
            out[settings.topic] = settings.mac
    return out


class _CurrentRuntime:
    """The entry's runtime data as it is now: a reload (e.g. when a Tasmota device appears
    for a MAC that sits on a device of ours) replaces it, and the old one stops following."""

    def __init__(self, hass: Any) -> None:
        self._hass = hass
        self._seen: set[int] = set()

    @property
    def setups(self) -> int:
        """How many runtimes (set-ups of the entry) this has followed."""
        return len(self._seen)

    def __getattr__(self, name: str) -> Any:
        entry = self._hass.config_entries.async_entries("tasmota_tls")[0]
        self._seen.add(id(entry.runtime_data))
        return getattr(entry.runtime_data, name)


def _stuck_report(runtime: Any, stuck: list[str]) -> str:
    """Where the devices that did not finish are: queued, running (and where), or idle."""
    tasks = {task.get_name(): task for task in asyncio.all_tasks()}
    lines = [f"{len(stuck)} unfinished, runtime set up {runtime.setups} time(s)"]
    for mac in stuck[:5]:
        task = next((t for name, t in tasks.items() if name.endswith(mac)), None)
        where = "no task"
        if task is not None:
            frames = task.get_stack(limit=30)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
        lines.append(
            f"{mac}: busy={runtime.view.is_busy(mac)} queued={runtime.view.is_queued(mac)} "
            f"task={where}"
        )
    return "\n".join(lines)


async def _enrol_all(hass: Any, timeline: Timeline, count: int) -> dict[str, Any]:
    runtime = _CurrentRuntime(hass)
    await _wait(lambda: len(runtime.view.devices) >= count, READY_TIMEOUT, "our discovery")
    await _wait(
        lambda: all(runtime.view.status(m) == TlsStatus.NOT_ENROLLED for m in runtime.view.devices),
        READY_TIMEOUT,
        "every device online",
    )
    macs = list(runtime.view.devices)
    started = time.perf_counter()
    with timeline.recording():
        for mac in macs:  # "enrol all"
            timeline.requested[mac] = time.perf_counter()
            await runtime.operations.async_request(mac, "enrol")
        done = (TlsStatus.CONNECTED_TLS, TlsStatus.FAILED)
        try:
            await _wait(
                lambda: all(runtime.view.status(m) in done for m in macs),
                ENROL_TIMEOUT,
                "enrolment",
            )
        except TimeoutError as err:
            seen = Counter(
                (str(runtime.view.status(m)), str(getattr(runtime.view.record(m), "step", "")))
                for m in macs
            )
            stuck = [m for m in macs if runtime.view.status(m) not in done]
            raise TimeoutError(
                f"{err}; statuses {dict(seen)}; {_stuck_report(runtime, stuck)}"
            ) from None
    statuses = [runtime.view.status(mac) for mac in macs]
    return {
        "enrol_seconds": time.perf_counter() - started,
        "connected": statuses.count(TlsStatus.CONNECTED_TLS),
        "failed": statuses.count(TlsStatus.FAILED),
        "parallel": runtime.settings.max_parallel,
        "setups": runtime.setups,
        "timeline": timeline.summary(),
    }


async def _restart_all(
    hass: Any, timeline: Timeline, topics: dict[str, str], window: float
) -> None:
    """Each device restarted once, evenly over the window; then wait until all are back."""
    started = time.perf_counter()
    gap = window / max(1, len(topics))
    for index, topic in enumerate(topics):
        await asyncio.sleep(max(0.0, started + index * gap - time.perf_counter()))
        timeline.requested[topics[topic]] = time.perf_counter()
        await mqtt.async_publish(hass, f"cmnd/{topic}/Restart", "1")

    def back() -> bool:
        return all(
            any(t > timeline.requested[mac] for t in timeline.online.get(mac, []))
            for mac in topics.values()
        )

    await _wait(back, ENROL_TIMEOUT, "every device back online")


async def measure(
    count: int,
    side: str,
    window: float,
    fast: bool,
    types: bool = False,
    parallel: int | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        root = Path(tmp)
        config_dir, files = await asyncio.to_thread(_prepare, root)
        broker = MosquittoBroker(BROKER_CONFIG.replace("{dir}", str(files)), root / "mq")
        await asyncio.to_thread(broker.start)
        http_port = free_port()
        devices = hass = None
        try:
            plain, tls = broker.ports["port"], broker.ports["tls_port"]
            _write_entries(config_dir, plain, tls, http_port, parallel, with_ours=side == "ours")
            devices = await _start_devices(root, plain, http_port, count, fast=fast)
            hass = await start_home_assistant(config_dir, domains=("mqtt",))
            async_get_clientsession(hass)  # made long before in a running Home Assistant
            timeline = Timeline()
            await _wait(lambda: len(_topics(root / "devices")) >= count, READY_TIMEOUT, "fleet")
            topics = _topics(root / "devices")
            unsubscribe = await _follow_online(hass, timeline, topics)
            await asyncio.sleep(SETTLE)
            objects, rss = _snapshot()
            before = _types() if types else Counter[str]()
            probe = LoopLagProbe()
            probe.start()
            started = time.perf_counter()
            # As in a home: Home Assistant's Tasmota integration has the devices first.
            assert await async_setup_component(hass, "tasmota", {})
            await _wait(lambda: _discovered_by_tasmota(hass) >= count, READY_TIMEOUT, "discovery")
            if side == "ours":
                assert await async_setup_component(hass, "tasmota_tls", {})
            discovered = time.perf_counter() - started
            if side == "ours":
                result = await _enrol_all(hass, timeline, count)
            else:
                await _restart_all(hass, timeline, topics, window)
                result = {}
            seconds = time.perf_counter() - started
            await probe.stop()
            unsubscribe()
            objects_end, rss_end = _snapshot()
            if types:
                added = _types()
                added.subtract(before)
                result["types_added"] = dict(added.most_common(40))
            return {
                "count": count,
                "side": side,
                "seconds": seconds,
                "discovered_seconds": discovered,
                "max_lag_ms": probe.max_ms,
                "p99_lag_ms": probe.p99_ms,
                "samples": len(probe.lags),
                "max_outside_gc_ms": probe.max_outside_gc_ms,
                "max_gc_ms": probe.max_gc_ms,
                "gc_total_ms": probe.gc_total_ms,
                "gc_count": len(probe.gc_pauses),
                "rss_mib": rss_end,
                "rss_added_mib": rss_end - rss,
                "objects_added": objects_end - objects,
                **result,
            }
        finally:
            if hass is not None:
                await stop_home_assistant(hass)
            if devices is not None:
                await _stop_devices(devices)
            await asyncio.to_thread(broker.stop)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.side_by_side")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--side", choices=("alone", "ours"), required=True)
    parser.add_argument("--window", type=float, default=0.0, help="alone: restart spread (s)")
    parser.add_argument("--fast", action="store_true", help="the simulator's fast timings")
    parser.add_argument("--types", action="store_true", help="the objects added, by type")
    parser.add_argument("--parallel", type=int, help="ours: enrolments at a time (else default)")
    args = parser.parse_args()
    result = asyncio.run(
        measure(args.count, args.side, args.window, args.fast, args.types, args.parallel)
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
