"""Enrolment timeline: when each engine step began, per device, and whose time it was.

The engine journals every step before running it (_Run.enter); the bench wraps that method
to note the time, without changing the integration. The device's own Online on its LWT
topic (seen by Home Assistant's MQTT client) marks the end of the device's part: from the
switch being answered (WAIT_ONLINE entered) until the device is back Online over TLS, the
device restarts, boots, joins Wi-Fi, makes its TLS handshake and connects. Everything else
between ISSUE and DONE is ours: issuance, command round trips, our detection after Online,
disarming. Time spent queued for a free slot is the fleet's, reported apart.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from custom_components.tasmota_tls.enrolment import engine
from custom_components.tasmota_tls.enrolment.model import EnrolmentStep

Step = EnrolmentStep


@dataclass
class Timeline:
    requested: dict[str, float] = field(default_factory=dict)
    steps: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    online: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by mac

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Note the time of every step the engine enters while inside."""
        original = engine._Run.enter
        steps = self.steps

        async def enter(run: engine._Run, step: EnrolmentStep) -> None:
            steps[run.record.mac].setdefault(str(step), time.perf_counter())
            await original(run, step)

        # mypy reads a plain function set on the class as unbound (a second self).
        engine._Run.enter = enter  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            engine._Run.enter = original  # type: ignore[method-assign]

    def split(self, mac: str) -> dict[str, float] | None:
        """Seconds of one device's enrolment: total, the device's own, ours, and queued."""
        marks = self.steps.get(mac, {})
        start, wait, done = marks.get(Step.ISSUE), marks.get(Step.WAIT_ONLINE), marks.get(Step.DONE)
        if start is None or wait is None or done is None:
            return None
        online = next((t for t in self.online.get(mac, []) if wait <= t <= done), None)
        if online is None:
            return None
        total = done - start
        device = online - wait
        return {
            "total": total,
            "device": device,
            "ours": total - device,
            "queued": start - self.requested.get(mac, start),
            "issue": marks.get(Step.SEND_KEY, start) - start,
            "load": marks.get(Step.ARM_ROLLBACK, start) - marks.get(Step.SEND_KEY, start),
            "arm": marks.get(Step.SWITCH, start) - marks.get(Step.ARM_ROLLBACK, start),
            "switch": wait - marks.get(Step.SWITCH, wait),
            "detect": marks.get(Step.DISARM, online) - online,
            "disarm": done - marks.get(Step.DISARM, done),
        }

    def summary(self) -> dict[str, Any]:
        splits = [s for mac in self.steps if (s := self.split(mac)) is not None]
        if not splits:
            return {"devices": 0}
        out: dict[str, Any] = {"devices": len(splits)}
        for key in splits[0]:
            values = [s[key] for s in splits]
            out[key] = {"median": statistics.median(values), "worst": max(values)}
        shares = [s["ours"] / s["total"] for s in splits if s["total"] > 0]
        out["ours_share"] = {"median": statistics.median(shares), "worst": max(shares)}
        return out
