"""Integration start-up with N known devices: time to a loaded entry, and memory.

Everything a Home Assistant with N enrolled devices has after a restart is prepared
first: N certificates in the CA's index, a journal with a finished enrolment and the
certificate of each device, their pinned addresses, and N retained discovery configs
and LWTs on a real Mosquitto. Home Assistant (in-process, see ha_instance.py) is started
with MQTT only; then the integration is set up and measured: until
its entry is loaded, and until the tracker knows every device. Memory is the process's resident
size (current, and peak via getrusage) before and after.
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from homeassistant.config_entries import ConfigEntryState
from homeassistant.setup import async_setup_component

from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.enrolment import EnrolmentRecord, EnrolmentStep
from custom_components.tasmota_tls.pki import DeviceRequest, PkiStore
from tasmota_tls_tool.parallel import forked_signer
from tests.helpers.mosquitto import MosquittoBroker

from .ha_instance import (
    mqtt_entry,
    start_home_assistant,
    stop_home_assistant,
    stored_entry,
    write_store,
)
from .report import Result

PASSPHRASE = "bench passphrase"
STORE_ID = "bench"
BROKER_CONFIG = "allow_anonymous true\nlistener {port} 127.0.0.1\n"
READY_TIMEOUT = 120.0


def _mac(index: int) -> str:
    return f"A4CF12{index:06X}"


def _topic(index: int) -> str:
    return f"tasmota_{index:06X}"


def _discovery(index: int) -> dict[str, Any]:
    return {
        "ip": f"127.1.{index // 250}.{index % 250 + 2}",
        "dn": f"Plug {index}",
        "hn": f"tasmota-{index:06x}",
        "mac": _mac(index),
        "md": "Sonoff Basic",
        "sw": "14.5.0",
        "t": _topic(index),
        "ft": "%prefix%/%topic%/",
        "tp": ["cmnd", "stat", "tele"],
        "onln": "Online",
        "ofln": "Offline",
        "ver": 1,
    }


def _prepare(config_dir: Path, count: int, broker_port: int) -> None:
    """CA, certificates, journal, pins and entries, as a running instance would have left them."""
    store = PkiStore(config_dir / ".storage" / "tasmota_tls" / STORE_ID)
    store.init_ca(PASSPHRASE, "Bench CA")
    store.issue_broker(PASSPHRASE, "localhost")
    requests = [DeviceRequest(_topic(i), topic=_topic(i)) for i in range(count)]
    issued = (
        store.issue_devices(PASSPHRASE, requests, bulk_signer=forked_signer(4)) if requests else []
    )
    ours = stored_entry(
        "tasmota_tls",
        {
            "store_id": STORE_ID,
            "ca_source": "create",
            "custody": "unattended",
            "passphrase": PASSPHRASE,
            "broker_host": "localhost",
            "broker_port": 8883,
        },
        options=dict(DEFAULT_OPTIONS),
        title="Bench CA",
        unique_id="bench-ca",
    )
    entries = [mqtt_entry(broker_port), ours]
    write_store(config_dir, "core.config_entries", {"entries": entries}, version=(1, 5))
    records, certificates, names, pins = {}, {}, {}, {}
    for index, credential in enumerate(issued):
        mac = _mac(index)
        record = EnrolmentRecord.start(mac)
        record.step, record.serial = EnrolmentStep.DONE, credential.entry.serial
        records[mac] = record.to_dict()
        certificates[mac] = credential.entry.serial
        names[mac] = _topic(index)
        pins[mac] = {"ip": _discovery(index)["ip"], "command_topic": f"cmnd/{_topic(index)}/"}
    entry_id = ours["entry_id"]
    journal = {"records": records, "certificates": certificates, "names": names}
    write_store(config_dir, f"tasmota_tls.{entry_id}.journal", journal)
    write_store(config_dir, f"tasmota_tls.{entry_id}.address_pins", pins)


def _retain_discovery(broker_port: int, count: int) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-startup")
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        infos = []
        for index in range(count):
            config = json.dumps(_discovery(index))
            infos.append(client.publish(f"tasmota/discovery/{_mac(index)}/config", config, 1, True))
            infos.append(client.publish(f"tele/{_topic(index)}/LWT", "Online", 1, True))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _measure(config_dir: Path, count: int) -> dict[str, float]:
    # MQTT only: the synthetic discovery configs lack fields HATasmota requires ("btn"...),
    # and its rejections would be timed as ours.
    hass = await start_home_assistant(config_dir, domains=("mqtt",))
    try:
        await asyncio.sleep(1)  # let MQTT settle before measuring
        rss, peak = rss_mib(), _peak_mib()
        started = time.perf_counter()
        assert await async_setup_component(hass, "tasmota_tls", {})
        entry = hass.config_entries.async_entries("tasmota_tls")[0]
        assert entry.state is ConfigEntryState.LOADED
        loaded = time.perf_counter() - started
        tracker = entry.runtime_data.view
        deadline = time.monotonic() + READY_TIMEOUT
        while len(tracker.devices) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(tracker.devices)} of {count} devices discovered")
            await asyncio.sleep(0.01)
        await hass.async_block_till_done()
        known = time.perf_counter() - started
        return {
            "loaded": loaded,
            "known": known,
            "rss": rss_mib() - rss,
            "peak": _peak_mib() - peak,
        }
    finally:
        await stop_home_assistant(hass)


async def _one(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(BROKER_CONFIG, root / "mq")
        await asyncio.to_thread(broker.start)
        try:
            port = broker.ports["port"]
            await asyncio.to_thread(_prepare, root / "config", count, port)
            await asyncio.to_thread(_retain_discovery, port, count)
            return await _measure(root / "config", count)
        finally:
            await asyncio.to_thread(broker.stop)


def run(count: int = 500) -> list[Result]:
    """Set-up with ``count`` known devices, and with none for comparison."""
    empty, full = asyncio.run(_one(0)), asyncio.run(_one(count))
    label = f"{count} known devices"
    return [
        Result("startup", f"{label}: setup until entry loaded", f"{full['loaded'] * 1000:.0f}",
               "ms", f"no devices: {empty['loaded'] * 1000:.0f} ms"),
        Result("startup", f"{label}: until every device is tracked", f"{full['known'] * 1000:.0f}",
               "ms", "retained discovery replayed by the broker"),
        Result("startup", f"{label}: resident memory added", f"{full['rss']:.1f}", "MiB",
               f"no devices: {empty['rss']:.1f} MiB"),
        Result("startup", f"{label}: peak resident memory added", f"{full['peak']:.1f}", "MiB",
               f"no devices: {empty['peak']:.1f} MiB"),
    ]  # fmt: skip
