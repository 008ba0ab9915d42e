"""Device credentials per second: this core against Debian's easy-rsa, in one run."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custom_components.tasmota_tls.pki import PkiStore

from .easyrsa_peer import EasyRsaPki
from .report import Result

PASSPHRASE = "bench passphrase"


def easyrsa_rate(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        peer = EasyRsaPki(Path(tmp))
        peer.build_ca()
        start = time.perf_counter()
        for i in range(count):
            peer.issue_device(f"tasmota_{i:06X}")
        return count / (time.perf_counter() - start)


def core_rate(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = PkiStore(Path(tmp) / "pki")
        store.init_ca(PASSPHRASE, "Bench CA")
        store.issue_device(PASSPHRASE, "warm_up")  # unlock the CA key once, as a session does
        start = time.perf_counter()
        for i in range(count):
            store.issue_device(PASSPHRASE, f"tasmota_{i:06X}")
        return count / (time.perf_counter() - start)


BULK_SCRIPT = """
import resource, sys, tempfile, time
from pathlib import Path
from custom_components.tasmota_tls.pki import PkiStore
count = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    store = PkiStore(Path(tmp) / "pki")
    store.init_ca("p", "Bulk CA")
    start = time.perf_counter()
    for i in range(count):
        store.issue_device("p", f"tasmota_{i:06X}")
    elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bulk(count: int) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of a fresh process issuing count devices."""
    out = subprocess.run(
        [sys.executable, "-c", BULK_SCRIPT, str(count)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def run(easyrsa_count: int, core_count: int, bulk_count: int) -> list[Result]:
    peer = easyrsa_rate(easyrsa_count)
    ours = core_rate(core_count)
    elapsed, peak_kib = bulk(bulk_count)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return [
        Result("issuance", "easy-rsa gen-req + sign-req tasmota", f"{peer:.1f}", "certs/s",
               f"n={easyrsa_count}"),
        Result("issuance", "tasmota_tls core issue_device", f"{ours:.0f}", "certs/s", f"n={core_count}"),
        Result("issuance", "ratio core / easy-rsa", f"{ours / peer:.0f}", "x", "target >= 500x"),
        Result("issuance", f"bulk {bulk_count} devices, wall time", f"{elapsed:.2f}", "s",
               f"{bulk_count / elapsed:.0f} certs/s"),
        Result("issuance", f"bulk {bulk_count} devices, peak RSS", f"{peak_kib / 1024:.1f}", "MiB",
               f"this bench process: {baseline_kib / 1024:.0f} MiB"),
    ]  # fmt: skip
