"""The fleet's setting for bench/side_by_side.py: a real Mosquitto, N virtual devices, entries.

The broker has a plain listener (where the devices start) and a TLS listener that requires
a client certificate. The devices run in a child process (``python -m virtual_tasmota``),
so their TLS handshakes do not load Home Assistant's event loop; they restart with the
firmware's timings (virtual_tasmota/firmware.py) unless fast.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.pki import PkiStore

from .ha_instance import (
    mqtt_entry,
    stored_entry,
    tasmota_entry,
    write_store,
)

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
