"""The property-based fuzz suites at bench strength (10,000+ cases per property)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .report import Result

REPO = Path(__file__).resolve().parent.parent


def run(examples: int) -> list[Result]:
    env = {**os.environ, "TASMOTA_TLS_FUZZ_EXAMPLES": str(examples)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:sugar", "tests/fuzz"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    passed = re.search(r"(\d+) passed", summary)
    return [
        Result("fuzz", f"properties at {examples:,} cases each", summary, "",
               f"{elapsed:.0f} s; exit {done.returncode}"),
        Result("fuzz", "properties passed", passed.group(1) if passed else "0", "tests"),
    ]  # fmt: skip
