"""What the address guard's conflict check costs as the fleet grows: claim index vs scan.

Every discovery and status update checks its device against every enrolled MAC's
claim (name, topic, LWT topic, command/stat/tele roots). The peer is the plain scan
of all claims that the guard used before (claims.conflict), run side by side on the
same claims; both must give the same answer. The checked device conflicts with no
one, the case where a scan reads every claim.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from custom_components.tasmota_tls.address_guard.claims import Claim, ClaimIndex, conflict
from custom_components.tasmota_tls.discovery import TasmotaDevice

from .report import Result


def _scan(device: TasmotaDevice, claims: Sequence[Claim]) -> object:
    return conflict(device, claims)


def _device(index: int) -> TasmotaDevice:
    return TasmotaDevice(
        mac=f"A4CF12{index:06X}", ip=f"127.0.{index // 250}.{index % 250 + 2}",
        topic=f"tasmota_{index:06X}", full_topic="%prefix%/%topic%/",
        prefixes=("cmnd", "stat", "tele"), hostname=f"tasmota-{index:06X}-{index:04d}",
        name=f"Plug {index}", firmware="15.0.1", model="Sonoff Basic",
        online_payload="Online", offline_payload="Offline",
    )  # fmt: skip


def _claim(device: TasmotaDevice) -> Claim:
    model = device.topics
    return Claim(device.mac, device.topic, device.ip, model.topic, model.lwt_topic, model.bases())


def _per_check_us(check: Callable[[TasmotaDevice], object], device: TasmotaDevice,
                  repeat: int) -> float:  # fmt: skip
    started = time.perf_counter()
    for _ in range(repeat):
        check(device)
    return (time.perf_counter() - started) / repeat * 1e6


def run(counts: tuple[int, ...] = (200, 500), repeat: int = 2000) -> list[Result]:
    results = []
    for count in counts:
        claims = [_claim(_device(i)) for i in range(count)]
        index = ClaimIndex(claims)
        newcomer = _device(count + 1)
        assert index.conflict(newcomer) is None and conflict(newcomer, claims) is None
        taken = _device(count // 2)  # same MAC: not a conflict; another MAC: one
        other = replace(taken, mac="A4CF12FFFFFF")
        found = conflict(other, claims)
        assert found is not None and index.conflict(other) == found
        scan = _per_check_us(partial(_scan, claims=claims), newcomer, repeat)
        indexed = _per_check_us(index.conflict, newcomer, repeat)
        results.append(
            Result(
                "checks",
                f"conflict check, {count} enrolled devices: scan / index",
                f"{scan / indexed:.0f}",
                "x",
                f"index {indexed:.1f} us, scan {scan:.1f} us per check",
            )
        )
    return results
