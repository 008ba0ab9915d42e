"""Device credentials per second: this core against Debian's easy-rsa, in one run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from custom_components.tasmota_tls.pki import DeviceRequest, PkiStore
from tasmota_tls_tool.parallel import forked_signer

from .easyrsa_peer import EasyRsaPki
from .report import Result

PASSPHRASE = "bench passphrase"
LOADER = Path(__file__).resolve().parent.parent / "scripts" / "tasmota_tls_cli.py"


def easyrsa_rate(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        peer = EasyRsaPki(Path(tmp))
        peer.build_ca()
        start = time.perf_counter()
        for i in range(count):
            peer.issue_device(f"tasmota_{i:06X}")
        return count / (time.perf_counter() - start)


def core_rates(single_count: int, batch_count: int) -> tuple[float, float, float]:
    """(one call per device, one batch, one batch on every core), in certificates per second."""
    with tempfile.TemporaryDirectory() as tmp:
        store = PkiStore(Path(tmp) / "pki")
        store.init_ca(PASSPHRASE, "Bench CA")
        store.issue_device(PASSPHRASE, "warm_up")  # unlock the CA key once, as a session does
        start = time.perf_counter()
        for i in range(single_count):
            store.issue_device(PASSPHRASE, f"single_{i:06X}")
        single = single_count / (time.perf_counter() - start)
        rates = []
        for workers in (1, os.cpu_count() or 1):
            requests = [DeviceRequest(f"w{workers}_{i:06X}") for i in range(batch_count)]
            start = time.perf_counter()
            store.issue_devices(
                PASSPHRASE, requests, bulk_signer=forked_signer(workers) if workers > 1 else None
            )
            rates.append(batch_count / (time.perf_counter() - start))
        return single, rates[0], rates[1]


# The command-line tool's own loader: the PKI core without Home Assistant in the process.
BULK_SCRIPT = """
import resource, runpy, sys, tempfile, time
from pathlib import Path
runpy.run_path(sys.argv[2], run_name="loader")["_load_tool"]()
from custom_components.tasmota_tls.pki import DeviceRequest, PkiStore
count = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    store = PkiStore(Path(tmp) / "pki")
    store.init_ca("p", "Bulk CA")
    start = time.perf_counter()
    store.issue_devices("p", [DeviceRequest(f"tasmota_{i:06X}") for i in range(count)])
    elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bulk(count: int) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of a fresh process issuing count devices in one batch."""
    out = subprocess.run(
        [sys.executable, "-c", BULK_SCRIPT, str(count), str(LOADER)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return float(out[0]), int(out[1])


def run(easyrsa_count: int, single_count: int, batch_count: int, bulk_count: int) -> list[Result]:
    peer = easyrsa_rate(easyrsa_count)
    single, batch, parallel = core_rates(single_count, batch_count)
    elapsed, peak_kib = bulk(bulk_count)
    cores = os.cpu_count() or 1
    return [
        Result("issuance", "easy-rsa gen-req + sign-req tasmota", f"{peer:.1f}", "certs/s",
               f"n={easyrsa_count}, one process per step as users run it"),
        Result("issuance", "core, one issue_device call per device", f"{single:.0f}", "certs/s",
               f"n={single_count}; index saved after each; {single / peer:.0f}x easy-rsa"),
        Result("issuance", "core, one batch (issue_devices)", f"{batch:.0f}", "certs/s",
               f"n={batch_count}; {batch / peer:.0f}x easy-rsa"),
        Result("issuance", f"core, one batch on {cores} cores", f"{parallel:.0f}", "certs/s",
               f"n={batch_count}; `device NAME...` path"),
        Result("issuance", "ratio best core / easy-rsa", f"{max(batch, parallel) / peer:.0f}", "x",
               "target >= 500x"),
        Result("issuance", f"bulk {bulk_count} devices, wall time", f"{elapsed:.2f}", "s",
               f"{bulk_count / elapsed:.0f} certs/s, fresh process"),
        Result("issuance", f"bulk {bulk_count} devices, peak RSS", f"{peak_kib / 1024:.1f}", "MiB",
               "whole process: Python, cryptography and the PKI core"),
    ]  # fmt: skip
