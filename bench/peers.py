"""Side by side with Home Assistant alone, the enrolment timeline, and fleet wall times.

For each fleet size, two fresh processes (bench/side_by_side.py): first ours (Home
Assistant, MQTT, its Tasmota integration and tasmota_tls enrolling all devices with default
options), then alone (the same without tasmota_tls, every device restarted once over the
same window). The rows give both sides and the ratio ours / alone, so that a loaded
machine slows both. Devices restart with the firmware's timings (virtual_tasmota/
firmware.py) unless ``fast``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .report import Result

REPO = Path(__file__).resolve().parent.parent
SIDE_TIMEOUT = 1800  # seconds for one side, a bound on a hung run
GOAL_STALL_RATIO = 1.2  # worst stall at 200 devices within 1.2x of Home Assistant alone
GOAL_ADDED_MIB = 10.0  # our resident memory added at 200 devices
GOAL_OURS_SHARE = 0.10  # our part of each device's enrolment
GOAL_FLEET_SECONDS = 60.0  # 200 devices to connected_tls
GOAL_STALL_MS = 50.0


def _side(count: int, side: str, window: float, fast: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.side_by_side", "--count", str(count), "--side", side,
               "--window", f"{window:.1f}", *(["--fast"] if fast else [])]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=SIDE_TIMEOUT, check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{side} side with {count} devices failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    print(f"side_by_side: {result}", file=sys.stderr, flush=True)
    return result


def _ratio(ours: float, alone: float) -> str:
    return f"{ours / alone:.2f}" if alone > 0 else "n/a"


def _compare(count: int, ours: dict[str, Any], alone: dict[str, Any]) -> list[Result]:
    label = f"{count} devices"
    rows = []
    for key, name, unit, digits in (
        ("max_lag_ms", "longest event-loop stall", "ms", 1),
        ("max_outside_gc_ms", "longest stall outside GC", "ms", 1),
        ("p99_lag_ms", "p99 event-loop lag", "ms", 1),
        ("max_gc_ms", "longest GC pause", "ms", 1),
        ("gc_total_ms", "GC pause time, total", "ms", 0),
        ("rss_mib", "resident memory at the end", "MiB", 1),
        ("rss_added_mib", "resident memory added", "MiB", 1),
        ("objects_added", "GC-tracked objects added", "", 0),
    ):
        a, o = float(alone[key]), float(ours[key])
        note = f"alone {a:,.{digits}f} {unit}, with tasmota_tls {o:,.{digits}f} {unit}".replace(
            "  ", " "
        )
        if key == "max_lag_ms":
            note += f" (goal at 200: ratio <= {GOAL_STALL_RATIO})"
        rows.append(Result("peers", f"{label}: {name}, with / alone", _ratio(o, a), "x", note))
    added = ours["rss_mib"] - alone["rss_mib"]
    note = f"end of run, with minus alone; goal at 200: < {GOAL_ADDED_MIB:.0f}"
    rows.append(Result("peers", f"{label}: resident memory ours adds", f"{added:.1f}", "MiB", note))
    rows.append(Result("peers", f"{label}: GC-tracked objects ours adds",
                       f"{ours['objects_added'] - alone['objects_added']:,}", "objects",
                       "added during the run, with minus alone"))  # fmt: skip
    return rows


def _fleet_rows(count: int, ours: dict[str, Any], fast: bool) -> list[Result]:
    label = f"{count} devices, default options ({ours['parallel']} at a time)"
    goal = f"; goal <= {GOAL_FLEET_SECONDS:.0f} s" if count == 200 else ""
    if count == 50 and not fast:
        goal = "; what the firmware's timings predict for a 50-device home"
    if fast:
        goal += "; the simulator's fast timings, not a prediction for real devices"
    rows = [
        Result("fleet", f"{label}: enrol all -> all connected_tls", f"{ours['enrol_seconds']:.1f}",
               "s", f"{ours['connected']} connected_tls, {ours['failed']} failed{goal}"),
        Result("fleet", f"{label}: longest event-loop stall", f"{ours['max_lag_ms']:.1f}", "ms",
               f"outside GC {ours['max_outside_gc_ms']:.1f} ms, p99 {ours['p99_lag_ms']:.1f} ms; "
               f"goal < {GOAL_STALL_MS:.0f}"),
    ]  # fmt: skip
    return rows


def _timeline_rows(count: int, timeline: dict[str, Any]) -> list[Result]:
    if not timeline.get("devices"):
        return [Result("timeline", f"{count} devices: no complete timeline", "0", "devices")]
    label = f"{count} devices"

    def mw(key: str) -> str:
        return f"{timeline[key]['median']:.2f} / {timeline[key]['worst']:.2f}"

    steps = ", ".join(
        f"{key} {timeline[key]['median']:.2f}"
        for key in ("issue", "load", "arm", "switch", "detect", "disarm")
    )
    share = timeline["ours_share"]
    return [
        Result("timeline", f"{label}: per device total, median / worst", mw("total"), "s",
               f"{timeline['devices']} devices, ISSUE to DONE, queueing excluded"),
        Result("timeline", f"{label}: device's own (restart, boot, Wi-Fi, TLS)", mw("device"),
               "s", "median / worst"),
        Result("timeline", f"{label}: ours (issuance, round trips, our waits)", mw("ours"), "s",
               f"median / worst; step medians: {steps}"),
        Result("timeline", f"{label}: our share of each device's time",
               f"{share['median'] * 100:.1f} / {share['worst'] * 100:.1f}", "%",
               f"median / worst; goal <= {GOAL_OURS_SHARE * 100:.0f}"),
        Result("timeline", f"{label}: queued for a free slot", mw("queued"), "s",
               "median / worst; the fleet's wait, not the device's"),
    ]  # fmt: skip


def run(counts: tuple[int, ...] = (50, 200, 500), fast: bool = False) -> list[Result]:
    results: list[Result] = []
    for count in counts:
        ours = _side(count, "ours", 0.0, fast)
        alone = _side(count, "alone", ours["enrol_seconds"], fast)
        results += _compare(count, ours, alone)
        results += _fleet_rows(count, ours, fast)
        results += _timeline_rows(count, ours["timeline"])
    return results
