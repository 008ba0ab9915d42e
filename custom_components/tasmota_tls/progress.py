"""What a running enrolment or renewal shows: queued, enrolling or renewing, and how far.

"Enrolling" alone covered a device waiting for a free slot, a renewal, and a device
that has not answered for minutes. The status says which (read_model.py), and these
attributes say the step and when the device's own rollback rule fires and when the wait
ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .device_state import DeviceState, TlsStatus
from .engine_options import EngineOptions
from .enrolment import EnrolmentRecord

ACTIVE = (TlsStatus.QUEUED, TlsStatus.ENROLLING, TlsStatus.RENEWING)


def progress_attributes(
    status: TlsStatus,
    record: EnrolmentRecord | None,
    state: DeviceState | None,
    engine: EngineOptions,
) -> dict[str, Any]:
    """Step, rollback time and deadline while an operation runs; nothing otherwise."""
    if status not in ACTIVE:
        return {}
    if status is TlsStatus.QUEUED:
        return {"progress_step": "queued"}
    if record is None or record.finished:
        return {"progress_step": "starting"}
    attributes: dict[str, Any] = {"progress_step": str(record.step)}
    switched = dt_util.parse_datetime(record.switched_at) if record.switched_at else None
    if switched is not None:
        try:
            options = engine.options(state, record.operation)
        except HomeAssistantError:  # options that cannot work now: show the step only
            return attributes
        attributes["rollback_at"] = (
            switched + dt.timedelta(seconds=options.rollback_seconds)
        ).isoformat()
        attributes["gives_up_at"] = (
            switched + dt.timedelta(seconds=options.online_timeout)
        ).isoformat()
    return attributes
