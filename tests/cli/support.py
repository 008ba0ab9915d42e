"""Running `scripts/tasmota-tls` the way a user does: a subprocess with the passphrase set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "scripts" / "tasmota-tls"
PASSPHRASE = "cli passphrase"


def run(
    pki: Path,
    *args: str,
    passphrase: str | None = PASSPHRASE,
    python: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TASMOTA_TLS_PASSPHRASE"}
    if passphrase is not None:
        env["TASMOTA_TLS_PASSPHRASE"] = passphrase
    env["TASMOTA_TLS_PYTHON"] = python or sys.executable
    result = subprocess.run(
        [str(TOOL), "--pki", str(pki), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result
