"""scripts/develop as a real subprocess, and the checks that it leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.mosquitto import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVELOP = REPO_ROOT / "scripts" / "develop"
START_TIMEOUT = 90.0  # setup (a no-op once done), broker, devices, Home Assistant, demo
STOP_TIMEOUT = 40.0


@dataclass
class DevelopRun:
    """One running `scripts/develop --demo`; ``info`` is its state/develop.json."""

    process: asyncio.subprocess.Process
    root: Path
    output: Path
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def state(self) -> Path:
        return Path(self.info["state"])

    @property
    def config(self) -> Path:
        return Path(self.info["config"])

    @property
    def broker_log(self) -> Path:
        return Path(self.info["logs"]["mosquitto"])

    def output_text(self) -> str:
        return self.output.read_text(errors="replace")

    def diagnostics(self) -> str:
        """The tails of every log, for assertion messages."""
        parts = [f"--- develop output ---\n{self.output_text()[-3000:]}"]
        for name, path in self.info.get("logs", {}).items():
            with contextlib.suppress(OSError):
                parts.append(f"--- {name} ---\n{Path(path).read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    async def stop(self) -> int:
        """SIGTERM, as Ctrl-C would; the exit code (waited for without blocking the loop)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while (code := self.process.returncode) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"scripts/develop did not stop:\n{self.diagnostics()}")
            await asyncio.sleep(0.1)
        return code


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Every process whose command line contains ``text`` (our temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append((int(entry.name), cmdline.strip()))
    return found


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def unused_loopback_block() -> str:
    """A first device address in a /24 of 127/8 that no other test uses (127.0.0.x is busy)."""
    return f"127.{random.randrange(100, 250)}.{random.randrange(1, 250)}.2"


@contextlib.asynccontextmanager
async def running_develop(
    root: Path, devices: int, extra: tuple[str, ...] = ()
) -> AsyncIterator[DevelopRun]:
    """Start `scripts/develop --demo` in ``root``; always stopped and cleaned up on exit.

    ``extra`` goes to scripts/develop as well, e.g. ``("--no-tlskey", "5")``.
    """
    port = free_port()
    output = root / "develop.out"
    argv = [
        str(DEVELOP),
        "--demo",
        "--port",
        str(port),
        "--devices",
        str(devices),
        "--config",
        str(root / "config"),
        "--state",
        str(root / "state"),
        "--first-ip",
        unused_loopback_block(),
        *extra,
    ]
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
    run = DevelopRun(process, root, output, {})
    try:
        runtime = root / "state" / "develop.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not runtime.exists():
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"scripts/develop did not come up:\n{run.diagnostics()}")
            await asyncio.sleep(0.2)
        run.info = json.loads(runtime.read_text())
        yield run
    finally:
        if process.returncode is None:
            with contextlib.suppress(AssertionError):
                await run.stop()
        # Whatever a failed test left behind goes now, so no later test inherits it.
        for pid, _ in processes_mentioning(str(root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if process.returncode is None:
            process.kill()
            await process.wait()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _remote_is_loopback(hex_address: str) -> bool:
    host = hex_address.split(":", maxsplit=1)[0]
    if len(host) == 8:  # IPv4, little-endian
        return int(host[6:8], 16) == 127
    if host == "0" * 31 + "1" or host == "0" * 32:  # ::1, or unconnected
        return True
    # IPv4-mapped ::ffff:127.x.y.z
    return host[:24] == "0000000000000000FFFF0000" and int(host[30:32], 16) == 127


def foreign_connections(pids: list[int]) -> list[str]:
    """TCP/UDP sockets of these processes whose peer is not on loopback."""
    inodes = set().union(*(_socket_inodes(pid) for pid in pids)) if pids else set()
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError):
            for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = row.split()
                remote, inode = fields[2], fields[9]
                unconnected = remote.endswith(":0000")
                if inode in inodes and not (unconnected or _remote_is_loopback(remote)):
                    found.append(f"{table} {fields[1]} -> {remote}")
    return found
