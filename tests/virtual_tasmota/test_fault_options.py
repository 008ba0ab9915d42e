"""--no-tlskey: a virtual device with a stock build (no USE_MQTT_CLIENT_CERT), from the
command line of scripts/virtual-tasmota and scripts/develop."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from devtools import develop
from tests.helpers.mosquitto import MosquittoBroker, free_port
from virtual_tasmota import Fleet
from virtual_tasmota import __main__ as cli

from .helpers import Observer, send

REPO = Path(__file__).resolve().parents[2]


async def test_no_tlskey_makes_only_that_device_refuse_tlskey(
    plain_broker: MosquittoBroker, observer_factory: Callable[[int], Observer], tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(REPO / "scripts" / "virtual-tasmota"), "--broker", f"127.0.0.1:{plain_broker.port}",
        "--count", "2", "--state", str(tmp_path / "state"), "--http-base-port", str(free_port()),
        "--first-ip", "127.0.4.2", "--fast", "--no-tlskey", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        topics: list[str] = []
        lines: list[str] = []
        while len(topics) < 2:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, lines  # the fleet exited
            lines.append(line)
            if match := re.search(r"fleet \| (\S+) mac ", line):
                topics.append(match.group(1))
        assert any(f"{topics[1]} runs a build without USE_MQTT_CLIENT_CERT" in line
                   and "(--no-tlskey 2)" in line for line in lines), lines  # fmt: skip
        observer = observer_factory(plain_broker.port)
        observer.subscribe("stat/#")
        key = base64.b64encode(os.urandom(32)).decode()
        first, second = (SimpleNamespace(topic=topic) for topic in topics)
        assert await send(observer, first, "TLSKey1", key) != {"Command": "Unknown"}  # type: ignore[arg-type]
        assert await send(observer, second, "TLSKey1", key) == {"Command": "Unknown"}  # type: ignore[arg-type]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0


def test_no_tlskey_numbers_a_device_of_the_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--broker", "127.0.0.1:1883", "--state", "s", "--count", "3"]
    assert cli.parse_args([*base, "--no-tlskey", "1", "--no-tlskey", "3"]).no_tlskey == [1, 3]
    with pytest.raises(SystemExit):
        cli.parse_args([*base, "--no-tlskey", "4"])
    assert "devices are numbered 1 to 3" in capsys.readouterr().err


def test_reject_tls_sets_the_fault_on_that_device_only(tmp_path: Path) -> None:
    args = cli.parse_args(["--broker", "127.0.0.1:1883", "--state", str(tmp_path),
                           "--count", "3", "--reject-tls", "3", "--no-tlskey", "1"])  # fmt: skip
    fleet = Fleet(broker_host="127.0.0.1", broker_port=1883, state_dir=tmp_path, count=3)
    cli.apply_faults(fleet, args)
    assert [(d.faults.no_tlskey, d.faults.reject_tls) for d in fleet.devices] == [
        (True, False),
        (False, False),
        (False, True),
    ]


def test_develop_passes_the_fault_options_to_the_devices(tmp_path: Path) -> None:
    args = develop.parse_args(["--devices", "3", "--no-tlskey", "2", "--reject-tls", "3"])
    argv = develop.fleet_argv(args, 1883, tmp_path)
    assert argv[1:3] == ["-m", "virtual_tasmota"]
    parsed = cli.parse_args(argv[3:])  # the simulator understands them
    assert (parsed.no_tlskey, parsed.reject_tls) == ([2], [3])
    for wrong in (["--no-tlskey", "5"], ["--reject-tls", "0"]):
        with pytest.raises(SystemExit):
            develop.parse_args(["--devices", "3", *wrong])
