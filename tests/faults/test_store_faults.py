"""The store under real faults: a full disk, a read-only disk, and kill -9 mid-issue."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from custom_components.tasmota_tls.pki import DeviceRequest, PkiError, PkiStore, storefs

from ..pki.support import PASSPHRASE, snapshot

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


# ---- a kill or a full disk at every write of revoke, crl, broker and ha-client ----------

# Runs one store operation in a child process and hits the Nth atomic file replacement
# (every store write ends in one): SIGKILL just before it or just after it, or ENOSPC in
# its place (what a full disk does to the write). The store is then loaded by the parent.
FAULT_CHILD = """
import errno, os, signal, sys
sys.path.insert(0, sys.argv[1])
import tasmota_tls_cli
tasmota_tls_cli._load_tool()
from custom_components.tasmota_tls.pki import PkiError, PkiStore

store_dir, op, mode, target = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
calls = 0
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    global calls
    calls += 1
    if calls == target and mode == "kill-before":
        os.kill(os.getpid(), signal.SIGKILL)
    if calls == target and mode == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device")
    real_replace(src, dst, *args, **kwargs)
    if calls == target and mode == "kill-after":
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
store, passphrase = PkiStore(store_dir), sys.argv[6]
try:
    if op == "revoke":
        store.revoke(passphrase, "dev1", "key_compromise")
    elif op == "crl":
        store.generate_crl(passphrase)
    elif op == "broker":
        store.issue_broker(passphrase, "mqtt.lan", keep_key=True)
    elif op == "broker-new-key":
        store.issue_broker(passphrase, "mqtt.lan")
    elif op == "ha-client":
        store.issue_ha_client(passphrase)
except PkiError as err:
    print("ERROR", err.code, err)
    sys.exit(3)
print("DONE", calls)
"""
OPERATIONS = ("revoke", "crl", "broker", "broker-new-key", "ha-client")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = PkiStore(tmp_path_factory.mktemp("base") / "pki")
    store.init_ca(PASSPHRASE, "Fault CA")
    store.issue_broker(PASSPHRASE, "mqtt.lan")
    store.issue_ha_client(PASSPHRASE)
    store.issue_devices(PASSPHRASE, [DeviceRequest("dev1"), DeviceRequest("dev2")])
    store.generate_crl(PASSPHRASE)
    return store.directory


def crl_number(store: PkiStore) -> int | None:
    crl = store.crl()
    if crl is None:
        return None
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def assert_store_whole(directory: Path) -> PkiStore:
    """It loads, every key matches its certificate, and the CRL agrees with the index."""
    store = PkiStore(directory)
    assert store.entries()
    store.check_passphrase(PASSPHRASE)  # CA key against ca.crt
    broker = store.broker_certificate()
    assert broker is not None
    assert storefs.public_der(store.broker_key(PASSPHRASE)) == storefs.public_der(broker)
    ha = store.ha_client_certificate()
    assert ha is not None
    assert storefs.public_der(store.ha_client_key(PASSPHRASE)) == storefs.public_der(ha)
    for name in ("broker.crt", "broker.key", "ha-client.crt", "ha-client.key"):
        assert not (directory / name).exists()
    return store


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_kill_or_full_disk_at_every_write_leaves_a_whole_store(
    operation: str, base_store: Path, tmp_path: Path
) -> None:
    base_number = crl_number(PkiStore(base_store))
    assert base_number == 1
    points = 0
    for target in range(1, 10):
        reached = False
        for mode in ("kill-before", "kill-after", "enospc"):
            directory = tmp_path / f"{target}-{mode}"
            shutil.copytree(base_store, directory)
            child = subprocess.run(
                [sys.executable, "-c", FAULT_CHILD, str(REPO / "scripts"), str(directory),
                 operation, mode, str(target), PASSPHRASE],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert "Traceback" not in child.stderr, child.stderr
            if child.returncode == 0:
                assert child.stdout.startswith("DONE"), child.stdout
                continue  # the operation finished before write number `target`
            reached = True
            points += 1
            if mode == "enospc":
                assert child.returncode == 3 and "write_failed" in child.stdout, child.stdout
                assert "No space left on device" in child.stdout
            else:
                assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
            store = assert_store_whole(directory)
            crl_file = store.crl()
            assert crl_file is not None
            published = {entry.serial_number for entry in crl_file}
            after_fault = crl_number(store)
            assert after_fault is not None and after_fault >= base_number
            # The next CRL never reuses a number a CRL file may already carry.
            recovery = store.generate_crl(PASSPHRASE)
            number = recovery.extensions.get_extension_for_class(x509.CRLNumber).value
            assert number.crl_number > after_fault
            assert number.crl_number > base_number
            # A revocation the index records is in that CRL: never silently undone.
            revoked = {e.serial_int for e in store.entries() if e.status == "revoked"}
            assert {entry.serial_number for entry in recovery} == revoked
            assert published <= revoked, "a published revocation was dropped"
            # A killed writer's temporary file is gone after the next change.
            assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
        if not reached:
            break
    assert points >= 6, f"{operation}: only {points} fault points hit"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_full_disk_refuses_each_operation_cleanly(operation: str, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        store = PkiStore(disk / "pki")
        store.init_ca(PASSPHRASE, "Full CA")
        store.issue_broker(PASSPHRASE, "mqtt.lan")
        store.issue_ha_client(PASSPHRASE)
        store.issue_device(PASSPHRASE, "dev1")
        store.generate_crl(PASSPHRASE)
        before = snapshot(store.directory)
        fill(disk)
        with pytest.raises(PkiError, match="No space left on device") as caught:
            if operation == "revoke":
                store.revoke(PASSPHRASE, "dev1")
            elif operation == "crl":
                store.generate_crl(PASSPHRASE)
            elif operation.startswith("broker"):
                store.issue_broker(PASSPHRASE, "mqtt.lan", keep_key=operation == "broker")
            else:
                store.issue_ha_client(PASSPHRASE)
        assert caught.value.code == "write_failed"
        assert snapshot(store.directory) == before
        assert_store_whole(store.directory)
