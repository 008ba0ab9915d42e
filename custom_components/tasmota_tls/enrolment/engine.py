"""The enrolment engine: moves a Tasmota device onto TLS without stranding it.

Order of work (each step journaled first, each bounded by a timeout):
ISSUE (TLSKey support check, previous settings read, credential issued) ->
SEND_KEY -> SEND_CERT -> CONFIRM -> ARM_ROLLBACK -> SWITCH -> WAIT_ONLINE ->
DISARM -> DONE. Until SWITCH nothing the device runs on has changed; after it,
the armed rule brings the device back by itself if TLS does not come up.

This module holds the three operations and their order; the steps before the
switch are in steps.py, the waits after it in waits.py, the commands in commands.py,
and the journal in run.py.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import TYPE_CHECKING

from .commands import switch_command
from .model import (
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
    Issuer,
    Journal,
    utc_now,
)
from .rollback import PreviousSettings
from .run import Run
from .steps import (
    arm,
    check_support,
    disarm,
    disarm_with_retries,
    issue_credential,
    load_credential,
    option,
    read_previous,
    status6,
)
from .waits import conclude, finish, reconnect, resume_renewal, settled_at
from .watch import Watch

if TYPE_CHECKING:
    from ..discovery import TasmotaDevice
    from .transport import Transport

Step = EnrolmentStep
_NOT_SWITCHED = (Step.ISSUE, Step.SEND_KEY, Step.SEND_CERT, Step.CONFIRM)
# The name bench/timeline.py wraps to time every step (Run.enter is where each one starts).
_Run = Run


class Enroller:
    """Enrols, renews and resumes devices through a Transport (no Home Assistant here)."""

    def __init__(self, transport: Transport, options: EnrolmentOptions) -> None:
        self._transport = transport
        self._options = options

    def _run(self, device: TasmotaDevice, record: EnrolmentRecord, journal: Journal) -> Run:
        return Run(self._transport, self._options, device, record, journal)

    async def enrol(
        self, device: TasmotaDevice, issue: Issuer, journal: Journal
    ) -> EnrolmentRecord:
        """Issue, load, arm, switch, confirm, disarm. Raises EnrolmentError.

        On failure the device is on its previous settings (never switched, or
        rolled back and confirmed) unless the reason is "rollback_unconfirmed".
        A failure to disarm after success leaves the record at DISARM, so that
        resume() finishes it later.
        """
        run = self._run(device, EnrolmentRecord.start(device.mac), journal)
        await run.enter(Step.ISSUE)
        armed = False
        previous: PreviousSettings | None = None
        try:
            await check_support(run.link)
            previous = await read_previous(run)
            run.record.previous = previous.to_dict()
            payloads = await issue_credential(run, issue)
            if run.needs_ecdsa:
                previous = dataclasses.replace(previous, ecdsa=await option(run.link, 165))
                run.record.previous = previous.to_dict()
            await load_credential(run, payloads)
            await run.enter(Step.ARM_ROLLBACK)
            armed = True
            await arm(run, previous)
        except EnrolmentError as err:
            if armed and previous is not None:
                await self._give_slot_back(run, previous, err)
            await run.fail(err)
        return await self._switch_and_finish(run, previous)

    async def _give_slot_back(
        self, run: Run, previous: PreviousSettings, err: EnrolmentError
    ) -> None:
        """Arming failed part-way: restore the user's rule slot before reporting the failure.

        If even that fails (the device is gone), the record stays at ARM_ROLLBACK, not
        finished, so that resume() gives the slot back later; the error says so.
        """
        if await disarm_with_retries(run, previous) is None:
            return
        err.detail = (
            f"{err.detail}; Rule{self._options.rule_slot} could not be given its previous "
            "content back yet (kept in the record for the next resume)"
        )
        err.record = copy.deepcopy(run.record)
        raise err

    async def _switch_and_finish(
        self, run: Run, previous: PreviousSettings | None
    ) -> EnrolmentRecord:
        assert previous is not None
        await run.enter(Step.SWITCH)
        switch_error: EnrolmentError | None = None
        try:
            command = switch_command(self._options, run.needs_ecdsa)
            await run.link.command(command, Step.SWITCH, None)
        except EnrolmentError as err:  # it may have arrived all the same: watch and see
            switch_error = err
        run.record.switched_at = utc_now()
        await run.enter(Step.WAIT_ONLINE)
        await conclude(run, previous, Watch(self._options, previous), switch_error)
        return run.record

    async def resume(
        self, device: TasmotaDevice, record: EnrolmentRecord, journal: Journal
    ) -> EnrolmentRecord:
        """Continue after a Home Assistant restart from the journaled step.

        Returns the record, DONE or FAILED; or still at DISARM when the device is
        on TLS but its rule slot could not be restored yet (resume again later).
        Never raises for the device's state, so the integration can always store it.
        """
        run = self._run(device, record, journal)
        if record.finished:
            return record
        previous = None
        if record.operation == "enrol" and record.previous:
            with contextlib.suppress(KeyError, TypeError, ValueError):  # damaged: cannot undo
                previous = PreviousSettings.from_dict(record.previous)
        try:
            if record.operation == "renew":
                await resume_renewal(run)
            elif record.step in _NOT_SWITCHED or previous is None:
                raise EnrolmentError(record.step, "interrupted", "the device was not switched")
            elif record.step == Step.ARM_ROLLBACK:
                await disarm(run, previous)
                raise EnrolmentError(record.step, "interrupted", "the device was not switched")
            elif record.step == Step.DISARM:
                await finish(run, previous)
            else:  # SWITCH or WAIT_ONLINE: find out where the device is now
                await run.enter(Step.WAIT_ONLINE)
                watch = Watch(
                    self._options,
                    previous,
                    need_fresh_online=False,
                    previous_settled_at=settled_at(self._options, record.switched_at),
                )
                await conclude(run, previous, watch, switch_error=None)
        except EnrolmentError as err:
            if err.step == Step.DISARM and run.record.step == Step.DISARM:
                return run.record  # on TLS, rule still armed: the next resume retries
            if not run.record.finished:
                with contextlib.suppress(EnrolmentError):
                    await run.fail(err)
        return run.record

    async def renew(
        self, device: TasmotaDevice, issue: Issuer, journal: Journal
    ) -> EnrolmentRecord:
        """Load a new key and certificate, reconnect, confirm TLS. Raises EnrolmentError.

        The device uses the new key from its next MQTT connection, so it is
        restarted and must come back Online over TLS; only then may the old
        certificate be revoked.
        """
        run = self._run(device, EnrolmentRecord.start(device.mac, operation="renew"), journal)
        await run.enter(Step.ISSUE)
        try:
            await check_support(run.link)
            status = await status6(run.link, Step.ISSUE)
            if status.tls is False:
                raise EnrolmentError(Step.ISSUE, "not_enrolled", "the device is not using TLS")
            run.record.previous = {"mqtt_host": status.host, "mqtt_port": status.port}
            payloads = await issue_credential(run, issue)
            await load_credential(run, payloads)
            await run.enter(Step.SWITCH)
            await reconnect(run)
        except EnrolmentError as err:
            await run.fail(err)
        await run.enter(Step.DONE)
        return run.record
