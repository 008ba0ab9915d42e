"""What a running enrolment or renewal shows: queued, enrolling or renewing, and how far.

"Enrolling" alone covered a device waiting for a free slot, a renewal, and a device
that has not answered for minutes. The status now says which, and the attributes say
the step and when the device's own rollback rule fires and when the wait ends.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .models import TlsStatus

if TYPE_CHECKING:
    from .manager import TlsManager


def active_status(manager: TlsManager, mac: str) -> TlsStatus:
    """The status of a device whose operation is queued, running or unfinished."""
    if mac in manager.queued:
        return TlsStatus.QUEUED
    operation = manager.active_operation(mac)
    record = manager.journal.records.get(mac)
    if operation is None and record is not None:
        operation = record.operation
    return TlsStatus.RENEWING if operation == "renew" else TlsStatus.ENROLLING


def progress_attributes(manager: TlsManager, mac: str) -> dict[str, Any]:
    """Step, rollback time and deadline while an operation runs; nothing otherwise."""
    status = manager.status(mac)
    if status not in (TlsStatus.QUEUED, TlsStatus.ENROLLING, TlsStatus.RENEWING):
        return {}
    if status is TlsStatus.QUEUED:
        return {"progress_step": "queued"}
    record = manager.journal.records.get(mac)
    if record is None or record.finished:
        return {"progress_step": "starting"}
    attributes: dict[str, Any] = {"progress_step": str(record.step)}
    switched = dt_util.parse_datetime(record.switched_at) if record.switched_at else None
    if switched is not None:
        try:
            options = manager.enrolment_options(mac, record.operation)
        except HomeAssistantError:  # options that cannot work now: show the step only
            return attributes
        attributes["rollback_at"] = (
            switched + dt.timedelta(seconds=options.rollback_seconds)
        ).isoformat()
        attributes["gives_up_at"] = (
            switched + dt.timedelta(seconds=options.online_timeout)
        ).isoformat()
    return attributes
