"""A fleet: 200 devices in one process, distinct identities and addresses, fault knobs, the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mosquitto import MosquittoBroker, free_port
from virtual_tasmota import DeviceFaults
from virtual_tasmota.fleet import device_addresses

from .helpers import FleetFactory, Observer, send

REPO = Path(__file__).resolve().parents[2]


async def test_200_devices_start_and_publish_discovery(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(
        plain_broker.port, count=200, first_ip="127.0.1.250", boot_delay=0.0, start_timeout=60
    )
    devices = fleet.devices
    assert len({d.mac for d in devices}) == 200
    assert len({d.ip for d in devices}) == 200
    assert all(not d.ip.endswith((".0", ".255")) for d in devices)

    def configs() -> set[str]:
        return {
            m.topic.split("/")[2]
            for m in observer.since(0)
            if m.topic.startswith("tasmota/discovery/") and m.topic.endswith("/config")
        }

    # Every device has published; the broker may still be forwarding the last ones.
    await observer.wait_until(lambda: configs() == {d.mac for d in devices})
    # Every device answers on its own topic.
    replies = await asyncio.gather(*(send(observer, d, "MqttClient") for d in devices[::40]))
    assert replies == [{"MqttClient": "DVES_%06X"}] * 5


def test_addresses_stay_inside_loopback() -> None:
    assert device_addresses("127.0.0.254", 3) == ["127.0.0.254", "127.0.1.1", "127.0.1.2"]
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        device_addresses("127.255.255.254", 3)


async def test_fault_knobs(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(
        plain_broker.port, count=3, faults=DeviceFaults(drop_command_fraction=1.0), start=False
    )
    lossy, slow, late = fleet.devices
    slow.faults = DeviceFaults(reply_delay=0.3)
    late.faults = DeviceFaults(offline_for=0.5)
    await fleet.start(timeout=20)
    assert not late.connected  # start() does not wait for devices told to stay offline
    await late.wait_state(lambda d: d.connected, 10)

    mark = observer.mark()
    observer.publish(f"cmnd/{lossy.topic}/MqttHost", "")
    await lossy.wait_state(
        lambda d: any("dropped MqttHost (fault)" in line for line in d.events), 10
    )
    assert await send(observer, slow, "MqttHost") == {"MqttHost": "127.0.0.1"}
    assert observer.since(mark, f"stat/{lossy.topic}/RESULT") == []


def test_cli_runs_a_fleet_and_stops_on_sigterm(
    plain_broker: MosquittoBroker, tmp_path: Path
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            str(REPO / "scripts" / "virtual-tasmota"),
            "--broker",
            f"127.0.0.1:{plain_broker.port}",
            "--count",
            "3",
            "--state",
            str(tmp_path / "state"),
            "--http-base-port",
            str(port),
            "--first-ip",
            "127.0.3.2",
            "--boot-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "fleet | 3 device(s) online" in line:
                break
        assert any("MQT: Connected plain to 127.0.0.1" in line for line in lines), lines
        assert len(list((tmp_path / "state").glob("device-*.json"))) == 3
        assert all(
            os.stat(p).st_mode & 0o777 == 0o600 for p in (tmp_path / "state").glob("device-*.json")
        )
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


def test_cli_refuses_a_broker_off_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "virtual_tasmota",
            "--broker",
            "192.0.2.1:1883",
            "--state",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr
