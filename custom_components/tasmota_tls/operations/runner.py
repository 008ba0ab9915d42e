"""Which operation runs when: requests, automatic enrolment, resumption, a slot each.

Operations beyond the entry's ``max_parallel_enrolments`` wait their turn (an options
change reloads the entry). The read model shows a waiting one as queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable

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
# within this time is marked failed rather than left pending.
RESUME_GRACE = dt.timedelta(minutes=2)


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

    @callback
    def async_start(self) -> None:
        """Note what a restart interrupted: resumed when its device announces itself."""
        ctx = self._ctx
        self._to_resume = {record.mac: record for record in ctx.journal.pending()}
        if self._to_resume:
            ctx.entry.async_on_unload(
                async_call_later(ctx.hass, RESUME_GRACE, self._give_up_on_missing)
            )

    def enrolment_options(
        self, mac: str | None = None, operation: str = "enrol"
    ) -> EnrolmentOptions:
        """Engine options from the entry; raises a translated error if unusable."""
        return self._jobs.enrolment_options(mac, operation)

    # ---- devices appearing -------------------------------------------------------------

    @callback
    def async_device_added(self, mac: str) -> None:
        """A device seen for the first time since set-up: resume it, or enrol it if due."""
        if self._to_resume.pop(mac, None) is not None:
            self.async_resume(mac)
        elif self._should_auto_enrol(mac):
            _LOGGER.info("Enrolling newly discovered Tasmota %s", mac)
            passphrase = self._ctx.custody.stored_passphrase()
            self._start(mac, "enrol", self._jobs.async_operate(mac, "enrol", passphrase))

    def _should_auto_enrol(self, mac: str) -> bool:
        ctx = self._ctx
        return (
            ctx.settings.auto_enrol
            and ctx.settings.unattended
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
        self._start(mac, operation, self._jobs.async_operate(mac, operation, secret))

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
        self._start(mac, "renew", self._jobs.async_operate(mac, "renew", passphrase))

    @callback
    def async_resume(self, mac: str) -> None:
        """Continue a journaled enrolment that has not finished."""
        ctx = self._ctx
        state, record = ctx.view.device_state(mac), ctx.journal.records.get(mac)
        if state is None or record is None or record.finished or ctx.view.is_busy(mac):
            return
        self._start(mac, record.operation, self._jobs.async_resume(state.device, record))

    @callback
    def _start(self, mac: str, operation: Operation, job: Awaitable[None]) -> None:
        self._slots.start(mac, operation, job)

    # ---- revocation ----------------------------------------------------------------------

    async def async_revoke(
        self, mac: str, reason: str, passphrase: str | None, serial: str | None = None
    ) -> IndexEntry:
        """Revoke the device's certificate now, or an older one of it by serial (service call)."""
        return await self.revocations.async_revoke(mac, reason, passphrase, serial)
