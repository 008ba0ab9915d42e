"""Fleet enrolment: N virtual Tasmota devices on a real Mosquitto, all enrolled at once.

Home Assistant runs in this process (bench/ha_instance.py) with MQTT on a broker that
has a plain listener (where the devices start) and a TLS listener that requires a
client certificate. The devices run in a child process (``python -m virtual_tasmota``),
so their TLS handshakes do not load Home Assistant's event loop. "Enrol all" calls the
integration's enrol request for every discovered device; the clock stops when every
device reports connected_tls. A loop-lag probe on Home Assistant's loop measures the
longest stall meanwhile. Engine timing is the integration's default (the devices
restart with the simulator's default delays).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.helpers.aiohttp_client import async_get_clientsession

from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.const import DEFAULT_MAX_PARALLEL_ENROLMENTS
from custom_components.tasmota_tls.models import TlsStatus
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.mosquitto import MosquittoBroker, free_port

from .ha_instance import (
    LoopLagProbe,
    mqtt_entry,
    start_home_assistant,
    stop_home_assistant,
    stored_entry,
    tasmota_entry,
    write_store,
)
from .report import Result

PASSPHRASE = "bench passphrase"
BROKER_NAME = "localhost"  # the devices' MqttHost; the broker certificate names it
STORE_ID = "bench"
BROKER_CONFIG = """
allow_anonymous true
max_keepalive 600
listener {port} 127.0.0.1
listener {tls_port} 127.0.0.1
cafile {dir}/ca.crt
certfile {dir}/broker.crt
keyfile {dir}/broker.key
require_certificate true
use_identity_as_username true
"""
READY_TIMEOUT = 120.0
ENROL_TIMEOUT = 900.0


@dataclass
class FleetRun:
    count: int
    parallel: int
    seconds: float
    connected: int
    failed: int
    max_lag_ms: float
    p99_lag_ms: float
    probe_samples: int
    worst_at: float
    max_outside_gc_ms: float
    max_gc_ms: float


def _prepare(root: Path) -> tuple[Path, Path]:
    """CA and broker certificate in the integration's store; the broker's copies beside it."""
    config_dir = root / "config"
    store_dir = config_dir / ".storage" / "tasmota_tls" / STORE_ID
    store = PkiStore(store_dir)
    store.init_ca(PASSPHRASE, "Bench CA")
    broker = store.issue_broker(PASSPHRASE, BROKER_NAME)
    files = root / "broker"
    files.mkdir()
    (files / "ca.crt").write_bytes((store_dir / "ca.crt").read_bytes())
    (files / "broker.crt").write_bytes(broker.cert_pem)
    key = files / "broker.key"
    key.write_bytes(broker.key_pem_unencrypted())
    os.chmod(key, 0o600)
    return config_dir, files


def _write_entries(
    config_dir: Path,
    plain_port: int,
    tls_port: int,
    http_port: int,
    parallel: int | None,
    *,
    with_ours: bool = True,
) -> None:
    """MQTT and Home Assistant's Tasmota integration; ours too unless with_ours is False.

    parallel None keeps the option's default, as a user who never opened the options has it.
    """
    options = {**DEFAULT_OPTIONS, "http_port": http_port}
    if parallel is not None:
        options["max_parallel_enrolments"] = parallel
    ours = stored_entry(
        "tasmota_tls",
        {
            "store_id": STORE_ID,
            "ca_source": "create",
            "custody": "unattended",
            "passphrase": PASSPHRASE,
            "broker_host": BROKER_NAME,
            "broker_port": tls_port,
        },
        options=options,
        title="Bench CA",
        unique_id="bench-ca",
    )
    entries = [mqtt_entry(plain_port), tasmota_entry(), *([ours] if with_ours else [])]
    write_store(config_dir, "core.config_entries", {"entries": entries}, version=(1, 5))


async def _start_devices(
    root: Path, broker_port: int, http_port: int, count: int, *, fast: bool = False
) -> asyncio.subprocess.Process:
    """The fleet in a child process, with the firmware's restart timings unless fast."""
    log = Path(os.environ["BENCH_DEVICE_LOG"]) if os.environ.get("BENCH_DEVICE_LOG") else None
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "virtual_tasmota",
        "--broker", f"127.0.0.1:{broker_port}", "--count", str(count),
        "--state", str(root / "devices"), "--http-base-port", str(http_port),
        "--log-level", "INFO" if log else "WARNING", *(["--fast"] if fast else []),
        stdout=log.open("w") if log else asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _stop_devices(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _wait(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def enrol_fleet(count: int, parallel: int) -> FleetRun:
    """One run: fresh broker, devices and Home Assistant; enrol all; measure."""
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        config_dir, files = await asyncio.to_thread(_prepare, root)
        broker = MosquittoBroker(BROKER_CONFIG.replace("{dir}", str(files)), root / "mq")
        await asyncio.to_thread(broker.start)
        http_port = free_port()
        devices: asyncio.subprocess.Process | None = None
        hass = None
        try:
            plain, tls = broker.ports["port"], broker.ports["tls_port"]
            _write_entries(config_dir, plain, tls, http_port, parallel)
            devices = await _start_devices(root, plain, http_port, count)
            hass = await start_home_assistant(config_dir)
            entry = hass.config_entries.async_entries("tasmota_tls")[0]
            manager = entry.runtime_data.manager
            await _wait(lambda: len(manager.tracker.devices) >= count, READY_TIMEOUT, "discovery")
            await _wait(
                lambda: all(
                    manager.status(mac) == TlsStatus.NOT_ENROLLED for mac in manager.tracker.devices
                ),
                READY_TIMEOUT,
                "every device online",
            )
            macs = list(manager.tracker.devices)
            # A running Home Assistant has made its shared web session (and SSL context)
            # long before; making it inside the probe would count a one-off start-up cost.
            async_get_clientsession(hass)
            probe = LoopLagProbe()
            probe.start()
            started = time.perf_counter()
            for mac in macs:  # "enrol all"
                await manager.async_request(mac, "enrol")

            def finished() -> bool:
                return all(
                    manager.status(mac) in (TlsStatus.CONNECTED_TLS, TlsStatus.FAILED)
                    for mac in macs
                )

            await _wait(finished, ENROL_TIMEOUT, "every enrolment")
            seconds = time.perf_counter() - started
            await probe.stop()
            statuses = [manager.status(mac) for mac in macs]
            return FleetRun(
                count=count,
                parallel=parallel,
                seconds=seconds,
                connected=statuses.count(TlsStatus.CONNECTED_TLS),
                failed=statuses.count(TlsStatus.FAILED),
                max_lag_ms=probe.max_ms,
                p99_lag_ms=probe.p99_ms,
                probe_samples=len(probe.lags),
                worst_at=probe.worst_at,
                max_outside_gc_ms=probe.max_outside_gc_ms,
                max_gc_ms=probe.max_gc_ms,
            )
        finally:
            if hass is not None:
                await stop_home_assistant(hass)
            if devices is not None:
                await _stop_devices(devices)
            await asyncio.to_thread(broker.stop)


def _rows(run: FleetRun) -> list[Result]:
    label = f"{run.count} devices, {run.parallel} at a time"
    note = f"{run.connected} connected_tls, {run.failed} failed"
    return [
        Result("fleet", f"{label}: enrol all -> all connected_tls", f"{run.seconds:.1f}", "s",
               note),
        Result("fleet", f"{label}: enrolments per second", f"{run.connected / run.seconds:.2f}",
               "1/s"),
        Result("fleet", f"{label}: longest event-loop stall", f"{run.max_lag_ms:.1f}", "ms",
               f"at {run.worst_at:.1f} s; p99 {run.p99_lag_ms:.1f} ms over {run.probe_samples} "
               "10 ms sleeps; goal < 50"),
        Result("fleet", f"{label}: longest stall outside garbage collection",
               f"{run.max_outside_gc_ms:.1f}", "ms",
               f"longest garbage collection pause {run.max_gc_ms:.1f} ms (whole process)"),
    ]  # fmt: skip


def run(counts: tuple[int, ...] = (50, 200), higher: int | None = None) -> list[Result]:
    """Both fleet sizes at the default concurrency, the largest also at a higher one."""
    default = DEFAULT_MAX_PARALLEL_ENROLMENTS
    higher = higher or default * 2
    plan = [(count, default) for count in counts] + [(max(counts), higher)]
    results: list[Result] = []
    runs: dict[tuple[int, int], FleetRun] = {}
    for count, parallel in plan:
        fleet_run = asyncio.run(enrol_fleet(count, parallel))
        print(f"fleet: {fleet_run}", file=sys.stderr, flush=True)
        runs[(count, parallel)] = fleet_run
        rows = _rows(fleet_run)
        results += rows
    small, large = min(counts), max(counts)
    if small != large:
        ratio = runs[(large, default)].seconds / runs[(small, default)].seconds
        results.append(
            Result("fleet", f"growth {small} -> {large} devices (wall time ratio)", f"{ratio:.2f}",
                   "x", f"device ratio {large / small:.0f}x; {default} at a time")
        )  # fmt: skip
    speedup = runs[(large, default)].seconds / runs[(large, higher)].seconds
    results.append(
        Result("fleet", f"{large} devices: {higher} vs {default} at a time", f"{speedup:.2f}", "x",
               "speed-up of the wall time")
    )  # fmt: skip
    return results
