"""The store under real faults: a full disk, a read-only disk, and kill -9 mid-issue."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from custom_components.tasmota_tls.pki import PkiError, PkiStore

from ..pki.conftest import PASSPHRASE, snapshot

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real, tiny filesystem we can fill up or make read-only."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> None:
    # Python 3.14's close() reports ENOSPC again for data still buffered, so the file
    # is closed inside the suppression.
    with contextlib.suppress(OSError), (directory / "filler").open("wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()


def test_disk_full_gives_a_clear_error_and_keeps_the_store(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        store = PkiStore(disk / "pki")
        store.init_ca(PASSPHRASE, "Full Disk CA")
        for i in range(5):
            store.issue_device(PASSPHRASE, f"before_{i}")
        before = snapshot(store.directory)
        fill(disk)
        with pytest.raises(PkiError, match="No space left on device") as caught:
            store.issue_devices(PASSPHRASE, [])  # an empty batch still rewrites the index
        assert caught.value.code == "write_failed"
        with pytest.raises(PkiError, match="No space left on device"):
            store.issue_device(PASSPHRASE, "lost")
        assert snapshot(store.directory) == before
        assert [e.cn for e in PkiStore(store.directory).entries()][-1] == "before_4"


def test_read_only_disk_gives_a_clear_error_and_keeps_the_store(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        store = PkiStore(disk / "pki")
        store.init_ca(PASSPHRASE, "Read-only CA")
        store.issue_device(PASSPHRASE, "kept")
        before = snapshot(store.directory)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(PkiError, match="Read-only file system"):
            store.issue_device(PASSPHRASE, "lost")
        with pytest.raises(PkiError, match="Read-only file system"):
            store.revoke(PASSPHRASE, "kept")
        assert snapshot(store.directory) == before
        assert PkiStore(store.directory).find("kept").status == "valid"


TOOL = REPO / "scripts" / "tasmota-tls"


def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    """The CLI issues 1000 devices in one process; we kill it 20 times mid-way.

    Each round waits until the tool has printed a random number of credentials, then
    kills it a random few milliseconds later, usually in the middle of the next batch.
    """
    store_dir = tmp_path / "pki"
    PkiStore(store_dir).init_ca(PASSPHRASE, "Crash CA")
    env = {"TASMOTA_TLS_PASSPHRASE": PASSPHRASE, "TASMOTA_TLS_PYTHON": sys.executable,
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    printed: list[str] = []
    rng = random.Random(20261126)
    for round_number in range(20):
        names = [f"r{round_number:02d}_{i:04d}" for i in range(1000)]
        child = subprocess.Popen(
            [str(TOOL), "--pki", str(store_dir), "device", *names, "--json"],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert child.stdout is not None
        wanted = rng.randrange(0, 600)
        lines: list[str] = []
        while len(lines) < wanted and (line := child.stdout.readline()):
            lines.append(line)
        time.sleep(rng.uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        # Read on through the same buffered reader (communicate() would skip its buffer);
        # EOF comes once the tool and its signing workers are gone.
        lines += child.stdout.read().splitlines(keepends=True)
        assert child.wait(timeout=10) == -signal.SIGKILL, "the tool finished before the kill"
        complete = [line for line in lines if line.endswith("\n")]
        printed += [json.loads(line)["serial"] for line in complete]
        # The store always loads, whatever moment the kill hit.
        entries = PkiStore(store_dir).entries()
        serials = [e.serial for e in entries]
        assert len(serials) == len(set(serials)), "a serial appears twice"
        missing = set(printed) - set(serials)
        assert not missing, f"printed but not in the index: {sorted(missing)[:3]}"
    assert printed, "the kills must hit a tool that had printed credentials"
