"""What the CA-machine tests share: the oldest Python and cryptography, and running the tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cryptography

# The requirement the README states, and what Debian 12 ships.
MIN_PYTHON = (3, 11)
MIN_CRYPTOGRAPHY = (38,)
ON_CA_MACHINE = os.environ.get("TASMOTA_TLS_CA_MACHINE") == "1"


def cryptography_version() -> tuple[int, ...]:
    return tuple(int(part) for part in cryptography.__version__.split(".")[:2])


REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "scripts" / "tasmota-tls"
PASSPHRASE = "ca machine passphrase"
HOST = "127.0.0.1"  # the MqttHost devices are given


def run(pki: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASMOTA_TLS_")}
    env |= {"TASMOTA_TLS_PASSPHRASE": PASSPHRASE, "TASMOTA_TLS_PYTHON": sys.executable}
    result = subprocess.run(
        [str(TOOL), "--pki", str(pki), *args],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result
