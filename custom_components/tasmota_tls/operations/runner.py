"""Which operation runs when: requests, automatic enrolment, resumption, a slot each.

Operations beyond the entry's ``max_parallel_enrolments`` wait their turn (an options
change reloads the entry). The read model shows a waiting one as queued. A waiting
enrolment or renewal is journaled: a reload or a restart queues it again, in its place,
behind the operations it interrupted (resumed first).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine
from typing import Any

from homeassistant.core import callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.event import async_call_later

from ..const import DOMAIN
from ..device_state import Operation
from ..enrolment import EnrolmentOptions, EnrolmentRecord
from ..pki import IndexEntry
from .context import OperationContext
from .jobs import OperationJobs
from .outcomes import Outcomes
from .revocation import Revocations
from .slots import OperationSlots

_LOGGER = logging.getLogger(__name__)

# After a restart, a pending enrolment whose device does not announce itself again
# within this time is marked failed rather than left pending (a queued request too).
RESUME_GRACE = dt.timedelta(minutes=2)
# Requests queued again at set-up wait this long at most for the other requested devices
# to announce themselves, so that they start in the order asked, not the order seen.
REQUEUE_SETTLE = dt.timedelta(seconds=10)


class OperationRunner:
    """Enrolments, renewals and revocations of one entry's devices."""

    def __init__(self, ctx: OperationContext) -> None:
        """Nothing runs until async_start."""
        self._ctx = ctx
        self.revocations = Revocations(ctx)
        self._outcomes = Outcomes(ctx, self.revocations)
        self._jobs = OperationJobs(ctx, self._outcomes, self.revocations, self.async_resume)
        self._slots = OperationSlots(ctx, ctx.settings.max_parallel)
        self._to_resume: dict[str, EnrolmentRecord] = {}
        self._resume_tickets: dict[str, int] = {}
        self._awaited: dict[str, asyncio.Future[bool]] = {}  # requests waiting for devices
        self._settled = asyncio.Event()  # every requested device seen, or waited enough

    @callback
    def async_start(self) -> None:
        """Note what a restart interrupted and what waited: both go on when seen again.

        Interrupted operations keep the first places in the queue, the requests that
        had not started follow in the order asked.
        """
        ctx = self._ctx
        self._to_resume = {record.mac: record for record in ctx.journal.pending()}
        self._resume_tickets = {mac: self._slots.ticket() for mac in self._to_resume}
        for mac, operation in list(ctx.journal.requested.items()):
            if mac not in self._to_resume:
                self._requeue(mac, operation)
        if self._to_resume or self._awaited:
            ctx.entry.async_on_unload(
                async_call_later(ctx.hass, RESUME_GRACE, self._give_up_on_missing)
            )
        if self._awaited:
            ctx.entry.async_on_unload(
                async_call_later(ctx.hass, REQUEUE_SETTLE, lambda _now: self._settled.set())
            )
        else:
            self._settled.set()

    @callback
    def _requeue(self, mac: str, operation: Operation) -> None:
        """A request saved before the reload: queued now, run once its device is back."""
        ctx = self._ctx
        arrived: asyncio.Future[bool] = ctx.hass.loop.create_future()
        if ctx.view.device_state(mac) is not None:
            arrived.set_result(True)
        else:
            self._awaited[mac] = arrived

        async def ready() -> bool:
            if await arrived:
                await self._settled.wait()  # then the slots go in the order asked
                return True
            await self._outcomes.async_failed_outside_engine(
                mac,
                operation,
                "device_not_found",
                "the device did not announce itself again after Home Assistant restarted",
            )
            return False

        job = self._async_requested(mac, operation)
        self._slots.start(mac, operation, job, ready=ready(), journaled=True)

    async def _async_requested(self, mac: str, operation: Operation) -> None:
        passphrase = self._ctx.custody.stored_passphrase()
        if passphrase is None:
            # Attended custody: the passphrase given with the request is never stored.
            await self._outcomes.async_failed_outside_engine(
                mac,
                operation,
                "interrupted",
                "the CA passphrase is not kept (attended custody): request it again",
            )
            return
        await self._jobs.async_operate(mac, operation, passphrase)

    def enrolment_options(
        self, mac: str | None = None, operation: str = "enrol"
    ) -> EnrolmentOptions:
        """Engine options from the entry; raises a translated error if unusable."""
        return self._jobs.enrolment_options(mac, operation)

    # ---- devices appearing -------------------------------------------------------------

    @callback
    def async_device_added(self, mac: str) -> None:
        """A device seen for the first time since set-up: resume it, or enrol it if due."""
        if (arrived := self._awaited.pop(mac, None)) is not None:
            arrived.set_result(True)  # its request, queued at set-up, may go on
            if not self._awaited:
                self._settled.set()
        elif self._to_resume.pop(mac, None) is not None:
            self.async_resume(mac)
        elif self._should_auto_enrol(mac):
            _LOGGER.info("Enrolling newly discovered Tasmota %s", mac)
            passphrase = self._ctx.custody.stored_passphrase()
            job = self._jobs.async_operate(mac, "enrol", passphrase)
            self._start(mac, "enrol", job, journaled=True)

    def _should_auto_enrol(self, mac: str) -> bool:
        ctx = self._ctx
        return (
            ctx.settings.auto_enrol
            and ctx.settings.unattended
            and not ctx.view.is_busy(mac)
            and mac not in ctx.journal.records  # never tried: a failure is not retried
            and ctx.guard.certificate(mac) is None
            and ctx.guard.refusal(ctx.view.devices[mac].device) is None
        )

    @callback
    def _give_up_on_missing(self, _now: dt.datetime) -> None:
        for mac, record in list(self._to_resume.items()):
            del self._to_resume[mac]
            self._ctx.hass.async_create_task(
                self._outcomes.async_mark_interrupted(record), eager_start=True
            )
        for mac, arrived in list(self._awaited.items()):
            del self._awaited[mac]
            arrived.set_result(False)
        self._settled.set()

    # ---- starting operations -------------------------------------------------------------

    async def async_request(
        self, mac: str, operation: Operation, passphrase: str | None = None
    ) -> None:
        """Check what can be checked now, then run the operation in the background.

        Raises a translated error when the device is unknown or busy, the passphrase
        is missing or wrong, or the broker's fingerprint is unknown.
        """
        ctx = self._ctx
        state = ctx.view.device_state(mac)
        if state is None or not state.present:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="device_not_discovered"
            )
        if ctx.view.is_busy(mac):
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="busy")
        if ctx.guard.address_changed(mac):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="address_changed",
                translation_placeholders=ctx.guard.address_placeholders(mac),
            )
        if (refusal := ctx.guard.refusal(state.device)) is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=refusal.kind,
                translation_placeholders=refusal.placeholders,
            )
        if operation == "renew" and ctx.guard.certificate(mac) is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_enrolled")
        secret = await ctx.custody.async_passphrase(passphrase)
        self.enrolment_options()  # raises when the options cannot work
        if ctx.view.is_busy(mac):  # pressed again while the passphrase was checked
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="busy")
        job = self._jobs.async_operate(mac, operation, secret)
        self._start(mac, operation, job, journaled=True)

    @callback
    def async_start_renewal(self, mac: str, passphrase: str) -> None:
        """Renew in the background (lifecycle); a running operation is left alone."""
        ctx = self._ctx
        state = ctx.view.device_state(mac)
        if ctx.view.is_busy(mac) or state is None or ctx.guard.certificate(mac) is None:
            return
        if ctx.guard.address_changed(mac):
            _LOGGER.warning("Tasmota %s is not renewed until its new address is confirmed", mac)
            return
        if ctx.guard.refusal(state.device) is not None:
            return  # its repair says why
        job = self._jobs.async_operate(mac, "renew", passphrase)
        self._start(mac, "renew", job, journaled=True)

    @callback
    def async_resume(self, mac: str) -> None:
        """Continue a journaled enrolment that has not finished."""
        ctx = self._ctx
        state, record = ctx.view.device_state(mac), ctx.journal.records.get(mac)
        if state is None or record is None or record.finished or ctx.view.is_busy(mac):
            return
        job = self._jobs.async_resume(state.device, record)
        # An operation a reload interrupted keeps the place it had in the queue.
        ticket = self._resume_tickets.pop(mac, None)
        self._slots.start(mac, record.operation, job, ticket=ticket)

    @callback
    def _start(
        self,
        mac: str,
        operation: Operation,
        job: Coroutine[Any, Any, None],
        *,
        journaled: bool = False,
    ) -> None:
        self._slots.start(mac, operation, job, journaled=journaled)

    # ---- revocation ----------------------------------------------------------------------

    async def async_revoke(
        self, mac: str, reason: str, passphrase: str | None, serial: str | None = None
    ) -> IndexEntry:
        """Revoke the device's certificate now, or an older one of it by serial (service call)."""
        return await self.revocations.async_revoke(mac, reason, passphrase, serial)
