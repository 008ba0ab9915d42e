"""How an operation ends: journaled, shown, announced (event, repair, log line)."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import callback

from ..const import EVENT_ENROLLED, EVENT_ENROLMENT_FAILED, EVENT_RENEWED, FIRMWARE_DOCS_URL
from ..device_state import Operation
from ..enrolment import EnrolmentRecord, EnrolmentStep
from ..issues import ISSUE_NO_TLSKEY_SUPPORT, async_set_issue
from .context import OperationContext
from .revocation import Revocations

_LOGGER = logging.getLogger(__name__)


class Outcomes:
    """Success and failure of one entry's operations."""

    def __init__(self, ctx: OperationContext, revocations: Revocations) -> None:
        """Outcomes written to the entry's journal; superseded certificates revoked."""
        self._ctx = ctx
        self._revocations = revocations

    async def async_journal(self, record: EnrolmentRecord) -> None:
        """Persist a step's record (the engine calls this before each step) and show it."""
        await self._ctx.journal.async_record(record)
        self._ctx.view.async_notify(record.mac)

    async def async_failed_outside_engine(
        self, mac: str, operation: Operation, reason: str, detail: str | None
    ) -> None:
        """Journal and report a failure the engine did not record itself."""
        record = self._ctx.journal.records.get(mac)
        if record is None or record.finished:
            record = EnrolmentRecord.start(mac, operation)
        record.failed_step, record.step = record.step, EnrolmentStep.FAILED
        record.reason, record.detail = reason, detail
        await self._ctx.journal.async_record(record)
        self.report_failure(mac, operation, record.failed_step, reason, detail)

    async def async_mark_interrupted(self, record: EnrolmentRecord) -> None:
        """A journaled operation whose device did not come back after a restart."""
        failed_at = record.step
        record.failed_step, record.step = failed_at, EnrolmentStep.FAILED
        record.reason = "device_not_found"
        record.detail = "the device did not announce itself after Home Assistant restarted"
        await self._ctx.journal.async_record(record)
        self.report_failure(record.mac, record.operation, failed_at, record.reason, record.detail)

    @callback
    def report_failure(
        self, mac: str, operation: Operation, step: str, reason: str, detail: str | None
    ) -> None:
        """Log, repair, event: the user learns why and what to do."""
        ctx = self._ctx
        _LOGGER.warning(
            "Tasmota %s: %s failed at step %s: %s%s",
            mac,
            operation,
            step,
            reason,
            f" ({detail})" if detail else "",
        )
        extra: dict[str, Any] = {"step": str(step), "reason": reason, "operation": operation}
        state = ctx.view.device_state(mac)
        if reason == "no_tlskey_support":
            extra["help_url"] = FIRMWARE_DOCS_URL
            async_set_issue(
                ctx.hass,
                ISSUE_NO_TLSKEY_SUPPORT,
                ctx.settings.entry_id,
                True,
                {"name": state.device.name if state else mac, "url": FIRMWARE_DOCS_URL},
                mac=mac,
            )
        ctx.failures.async_failed(mac, state, reason, detail)  # the repair, the fleet notice
        ctx.events.fire(mac, EVENT_ENROLMENT_FAILED, **extra)
        ctx.view.async_notify(mac)

    async def async_succeeded(
        self,
        mac: str,
        operation: Operation,
        record: EnrolmentRecord,
        name: str,
        previous: str | None,
        passphrase: str | None,
    ) -> None:
        """The device is on TLS with the new certificate: record it, drop the old one."""
        ctx = self._ctx
        assert record.serial is not None
        await ctx.journal.async_set_certificate(mac, record.serial, name)
        async_set_issue(ctx.hass, ISSUE_NO_TLSKEY_SUPPORT, ctx.settings.entry_id, False, mac=mac)
        ctx.failures.async_succeeded(mac)
        kind = EVENT_RENEWED if operation == "renew" else EVENT_ENROLLED
        _LOGGER.info("Tasmota %s %s with certificate %s", mac, kind, record.serial)
        ctx.events.fire(mac, kind, serial=record.serial, previous_serial=previous)
        if previous and previous != record.serial:
            # The device has reconnected with the new certificate: the old one can go.
            await self._revocations.async_revoke_serial(mac, previous, "superseded", passphrase)
        await ctx.ca.async_refresh()
        await ctx.tracker.async_query_status(mac)
        ctx.view.async_notify(mac)
