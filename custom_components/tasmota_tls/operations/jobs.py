"""The body of one enrolment, renewal or resumed operation, run once it has its slot.

The steps are the enrolment engine's. A job checks again what may have changed while it
waited (address, identity), supplies the credential (issued in the executor, bound to the
MAC before its key leaves) and the journal, and turns the engine's outcome into one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_call_later

from ..addon.hooks import AddonEnrolmentError
from ..const import DOMAIN
from ..device_state import Operation
from ..discovery import TasmotaDevice
from ..enrolment import Enroller, EnrolmentError, EnrolmentOptions, EnrolmentRecord, EnrolmentStep
from ..naming import certificate_name
from ..pki import IssuedCredential, PkiError
from .context import OperationContext
from .outcomes import Outcomes
from .renewal_proof import async_confirm_renewal
from .revocation import Revocations

_LOGGER = logging.getLogger(__name__)

# An operation that broke off after the switch is looked at again this much later.
RESUME_RETRY = dt.timedelta(minutes=1)


class OperationJobs:
    """Runs the engine for one device and reports what came of it."""

    def __init__(
        self,
        ctx: OperationContext,
        outcomes: Outcomes,
        revocations: Revocations,
        retry: Callable[[str], None],
    ) -> None:
        """``retry`` resumes a device's operation later (the runner's async_resume)."""
        self._ctx = ctx
        self._outcomes = outcomes
        self._revocations = revocations
        self._retry = retry
        self._transport: Any = None

    def enrolment_options(
        self, mac: str | None = None, operation: str = "enrol"
    ) -> EnrolmentOptions:
        """Engine options for the device; raises a translated error if unusable."""
        engine, state = self._ctx.engine, self._ctx.view.device_state(mac) if mac else None
        login = self._ctx.addon.engine_login(mac, engine.channel(state, operation))
        return engine.options(state, operation, login)

    def _enroller(self, mac: str, operation: str) -> Enroller:
        if self._transport is None:
            from ..enrolment.ha_transport import HomeAssistantTransport  # noqa: PLC0415

            self._transport = HomeAssistantTransport(self._ctx.hass)
        return Enroller(self._transport, self.enrolment_options(mac, operation))

    def _name(self, device: TasmotaDevice) -> str:
        return self._ctx.view.certificate_name(device.mac) or certificate_name(device)

    async def async_operate(self, mac: str, operation: Operation, passphrase: str | None) -> None:
        """Enrol or renew ``mac`` (its turn has come)."""
        ctx, outcomes = self._ctx, self._outcomes
        state = ctx.view.devices[mac]
        device = state.device
        if ctx.guard.moved(device):
            # The address changed while the operation waited for its turn.
            await outcomes.async_failed_outside_engine(
                mac, operation, "address_changed", "the new address is not confirmed yet"
            )
            return
        if (refusal := ctx.guard.refusal(device)) is not None:
            # Another device claimed the identity while this one waited: no key.
            await outcomes.async_failed_outside_engine(
                mac, operation, refusal.kind, refusal.placeholders.get("claim")
            )
            return
        name = self._name(device)
        current = ctx.guard.certificate(mac)
        previous = current.serial if current is not None and current.status == "valid" else None
        if passphrase is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="passphrase_required"
            )
        try:  # the Mosquitto add-on: the device's own login first (no-op otherwise)
            await ctx.addon.async_prepare_enrolment(mac, name)
        except AddonEnrolmentError as err:
            await outcomes.async_failed_outside_engine(mac, operation, err.reason, err.detail)
            return

        async def issue() -> IssuedCredential:
            credential = await ctx.ca.async_issue_device(
                passphrase, name, device.topic, device.command_topic("TLSKey2"), mac
            )
            # Bound to this MAC before its key leaves Home Assistant.
            await ctx.guard.async_bind(credential.entry.serial, mac)
            # Before the switch: the broker's ACL must already know the new identity.
            await ctx.bundle.async_refresh(passphrase)
            return credential

        def run(enroller: Enroller) -> Awaitable[EnrolmentRecord]:
            if operation == "renew":
                return enroller.renew(device, issue, outcomes.async_journal)
            return enroller.enrol(device, issue, outcomes.async_journal)

        record = await self._async_guarded(mac, operation, run)
        if record is None:
            return
        if operation == "renew" and not await self._async_proven(device, record, passphrase):
            return
        await ctx.guard.async_pin(device)  # the address the key went to
        await outcomes.async_succeeded(mac, operation, record, name, previous, passphrase)

    async def async_resume(self, device: TasmotaDevice, record: EnrolmentRecord) -> None:
        """Continue a journaled operation that a restart or a crash interrupted."""
        ctx, outcomes = self._ctx, self._outcomes
        _LOGGER.info("Resuming the interrupted %s of Tasmota %s", record.operation, device.mac)

        def run(enroller: Enroller) -> Awaitable[EnrolmentRecord]:
            return enroller.resume(device, record, outcomes.async_journal)

        result = await self._async_guarded(device.mac, record.operation, run)
        if result is not None and result.step == EnrolmentStep.FAILED:
            # resume() reports the device's state in the record instead of raising.
            step = result.failed_step or record.step
            reason = result.reason or "interrupted"
            outcomes.report_failure(device.mac, record.operation, step, reason, result.detail)
        if result is not None and result.step == EnrolmentStep.DONE and result.serial:
            passphrase = ctx.custody.stored_passphrase()
            if record.operation == "renew" and not await self._async_proven(
                device, result, passphrase
            ):
                return  # a resumed renewal needs the same evidence
            await ctx.guard.async_pin(device)
            await outcomes.async_succeeded(
                device.mac,
                record.operation,
                result,
                self._name(device),
                ctx.journal.certificates.get(device.mac),
                passphrase,
            )

    async def _async_proven(
        self, device: TasmotaDevice, record: EnrolmentRecord, passphrase: str | None
    ) -> bool:
        timeout = self.enrolment_options(device.mac, "renew").step_timeout
        return await async_confirm_renewal(
            self._ctx.hass, device, timeout, record, passphrase, self._revocations, self._outcomes
        )

    async def _async_guarded(
        self,
        mac: str,
        operation: Operation,
        run: Callable[[Enroller], Awaitable[EnrolmentRecord]],
    ) -> EnrolmentRecord | None:
        """Run the engine; report a failure and return None."""
        ctx, outcomes = self._ctx, self._outcomes
        try:
            return await run(self._enroller(mac, operation))
        except EnrolmentError as err:
            outcomes.report_failure(mac, operation, err.step, err.reason, err.detail)
        except (HomeAssistantError, PkiError) as err:
            reason = getattr(err, "code", None) or getattr(err, "translation_key", None)
            await outcomes.async_failed_outside_engine(mac, operation, reason or "error", str(err))
        except Exception:
            _LOGGER.exception("Tasmota %s: %s stopped unexpectedly", mac, operation)
            record = ctx.journal.records.get(mac)
            if record is not None and not record.finished and record.switched_at:
                # The switch went out: the device may well be on TLS. Look again later
                # (resume) rather than write it off.
                @callback
                def retry(_now: dt.datetime) -> None:
                    self._retry(mac)

                ctx.entry.async_on_unload(async_call_later(ctx.hass, RESUME_RETRY, retry))
            else:
                # Not switched: end as a visible failure, not as a silently stuck device.
                await outcomes.async_failed_outside_engine(mac, operation, "internal_error", None)
        finally:
            await ctx.custody.async_release()
        return None
