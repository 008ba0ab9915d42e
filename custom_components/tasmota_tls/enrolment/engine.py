"""The enrolment engine: moves a Tasmota device onto TLS without stranding it.

Order of work (each step journaled first, each bounded by a timeout):
ISSUE (TLSKey support check, previous settings read, credential issued) ->
SEND_KEY -> SEND_CERT -> CONFIRM -> ARM_ROLLBACK -> SWITCH -> WAIT_ONLINE ->
DISARM -> DONE. Until SWITCH nothing the device runs on has changed; after it,
the armed rule brings the device back by itself if TLS does not come up.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from ..pki.errors import PkiError
from ..pki.limits import (
    MAX_COMMAND_CHARS,
    MAX_MQTT_PACKET_BYTES,
    TLSKEY1_BYTES,
    mqtt_publish_packet_size,
)
from . import ecdsa
from .device_link import DeviceLink, error_reply, reply_value
from .model import (
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
    Issuer,
    Journal,
    utc_now,
)
from .rollback import (
    PreviousSettings,
    RuleSlot,
    UnsafeSettingsError,
    on_off,
    parse_rule_reply,
    restore_slot_commands,
    rollback_rule,
    same_rule_text,
)
from .transport import Transport
from .watch import MqttStatus, Outcome, Watch, watch_device

if TYPE_CHECKING:
    from ..discovery import TasmotaDevice
    from ..pki import TlsKeyPayloads

_LOGGER = logging.getLogger(__name__)

Step = EnrolmentStep
DISARM_ATTEMPTS = 3
_NOT_SWITCHED = (Step.ISSUE, Step.SEND_KEY, Step.SEND_CERT, Step.CONFIRM)


class _Run:
    """One operation on one device: its record, journal and device link."""

    def __init__(self, link: DeviceLink, record: EnrolmentRecord, journal: Journal) -> None:
        self.link = link
        self.record = record
        self._journal = journal
        self.needs_ecdsa = False  # CA mode with an EC CA: see ecdsa.py

    async def enter(self, step: EnrolmentStep) -> None:
        self.record.step = step
        await self.save()

    async def save(self) -> None:
        self.record.updated_at = utc_now()
        await self._journal(copy.deepcopy(self.record))

    async def fail(self, err: EnrolmentError) -> NoReturn:
        self.record.step = Step.FAILED
        self.record.failed_step = err.step
        self.record.reason = err.reason
        self.record.detail = err.detail
        await self.save()
        _LOGGER.warning("%s: enrolment failed at %s: %s", self.record.mac, err.step, err.reason)
        err.record = copy.deepcopy(self.record)
        raise err


class Enroller:
    """Enrols, renews and resumes devices through a Transport (no Home Assistant here)."""

    def __init__(self, transport: Transport, options: EnrolmentOptions) -> None:
        self._transport = transport
        self._options = options

    # ----------------------------------------------------------------- public API

    async def enrol(
        self, device: TasmotaDevice, issue: Issuer, journal: Journal
    ) -> EnrolmentRecord:
        """Issue, load, arm, switch, confirm, disarm. Raises EnrolmentError.

        On failure the device is on its previous settings (never switched, or
        rolled back and confirmed) unless the reason is "rollback_unconfirmed".
        A failure to disarm after success leaves the record at DISARM, so that
        resume() finishes it later.
        """
        run = _Run(
            DeviceLink(self._transport, device, self._options),
            EnrolmentRecord.start(device.mac),
            journal,
        )
        await run.enter(Step.ISSUE)
        armed = False
        previous: PreviousSettings | None = None
        try:
            await self._check_support(run.link)
            previous = await self._read_previous(run.link)
            run.record.previous = previous.to_dict()
            payloads = await self._issue(run, issue)
            if run.needs_ecdsa:
                previous = dataclasses.replace(previous, ecdsa=await self._option(run.link, 165))
                run.record.previous = previous.to_dict()
            await self._load_credential(run, payloads)
            await run.enter(Step.ARM_ROLLBACK)
            armed = True
            await self._arm(run.link, previous)
        except EnrolmentError as err:
            if armed and previous is not None:
                await self._give_slot_back(run, previous, err)
            await run.fail(err)
        return await self._switch_and_finish(run, previous)

    async def _give_slot_back(
        self, run: _Run, previous: PreviousSettings, err: EnrolmentError
    ) -> None:
        """Arming failed part-way: restore the user's rule slot before reporting the failure.

        If even that fails (the device is gone), the record stays at ARM_ROLLBACK, not
        finished, so that resume() gives the slot back later; the error says so.
        """
        if await self._disarm_with_retries(run.link, previous) is None:
            return
        err.detail = (
            f"{err.detail}; Rule{self._options.rule_slot} could not be given its previous "
            "content back yet (kept in the record for the next resume)"
        )
        err.record = copy.deepcopy(run.record)
        raise err

    async def resume(
        self, device: TasmotaDevice, record: EnrolmentRecord, journal: Journal
    ) -> EnrolmentRecord:
        """Continue after a Home Assistant restart from the journaled step.

        Returns the record, DONE or FAILED; or still at DISARM when the device is
        on TLS but its rule slot could not be restored yet (resume again later).
        Never raises for the device's state, so the integration can always store it.
        """
        run = _Run(DeviceLink(self._transport, device, self._options), record, journal)
        if record.finished:
            return record
        previous = None
        if record.operation == "enrol" and record.previous:
            with contextlib.suppress(KeyError, TypeError, ValueError):  # damaged: cannot undo
                previous = PreviousSettings.from_dict(record.previous)
        try:
            if record.operation == "renew":
                await self._resume_renewal(run)
            elif record.step in _NOT_SWITCHED or previous is None:
                raise EnrolmentError(record.step, "interrupted", "the device was not switched")
            elif record.step == Step.ARM_ROLLBACK:
                await self._disarm(run.link, previous)
                raise EnrolmentError(record.step, "interrupted", "the device was not switched")
            elif record.step == Step.DISARM:
                await self._finish(run, previous)
            else:  # SWITCH or WAIT_ONLINE: find out where the device is now
                await run.enter(Step.WAIT_ONLINE)
                watch = Watch(
                    self._options,
                    previous,
                    need_fresh_online=False,
                    previous_settled_at=self._settled_at(record.switched_at),
                )
                await self._conclude(run, previous, watch, switch_error=None)
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
        run = _Run(
            DeviceLink(self._transport, device, self._options),
            EnrolmentRecord.start(device.mac, operation="renew"),
            journal,
        )
        await run.enter(Step.ISSUE)
        try:
            await self._check_support(run.link)
            status = await self._status6(run.link, Step.ISSUE)
            if status.tls is False:
                raise EnrolmentError(Step.ISSUE, "not_enrolled", "the device is not using TLS")
            run.record.previous = {"mqtt_host": status.host, "mqtt_port": status.port}
            payloads = await self._issue(run, issue)
            await self._load_credential(run, payloads)
            await run.enter(Step.SWITCH)
            await self._reconnect(run)
        except EnrolmentError as err:
            await run.fail(err)
        await run.enter(Step.DONE)
        return run.record

    # ------------------------------------------------------------------- the steps

    async def _check_support(self, link: DeviceLink) -> None:
        """``TLSKey`` alone reports the stored lengths; stock firmware does not know it."""
        reply = await link.command("TLSKey", Step.ISSUE, "TLSKey1")
        if error_reply(reply) is not None:
            raise EnrolmentError(
                Step.ISSUE,
                "no_tlskey_support",
                f"the firmware answered TLSKey with {error_reply(reply)!r}: it lacks "
                "USE_MQTT_TLS with USE_MQTT_CLIENT_CERT",
            )
        if reply_value(reply, "TLSKey1") is None:
            raise EnrolmentError(Step.ISSUE, "command_error", "unexpected reply to TLSKey")

    async def _status6(self, link: DeviceLink, step: EnrolmentStep) -> MqttStatus:
        status = MqttStatus.from_reply(await link.command("Status 6", step, "StatusMQT"))
        if status is None:
            raise EnrolmentError(step, "command_error", "unexpected reply to Status 6")
        return status

    async def _read_previous(self, link: DeviceLink) -> PreviousSettings:
        slot = self._options.rule_slot
        status = await self._status6(link, Step.ISSUE)
        tls = await self._option(link, 103)
        fp_mode = await self._option(link, 132)
        fingerprint = None
        if tls and fp_mode:
            value = reply_value(
                await link.command("MqttFingerprint1", Step.ISSUE, "MqttFingerprint1"),
                "MqttFingerprint1",
            )
            fingerprint = value if isinstance(value, str) else None
        try:
            rule = parse_rule_reply(
                await link.command(f"Rule{slot}", Step.ISSUE, f"Rule{slot}"), slot
            )
        except ValueError as err:
            raise EnrolmentError(Step.ISSUE, "command_error", str(err)) from None
        user = None
        if self._options.mqtt_user is not None:  # the switch sets a login: remember the old
            value = reply_value(await link.command("MqttUser", Step.ISSUE, "MqttUser"), "MqttUser")
            user = value if isinstance(value, str) else None
        return PreviousSettings(
            status.host, status.port, tls, fp_mode, fingerprint, rule, mqtt_user=user
        )

    async def _option(self, link: DeviceLink, number: int) -> bool:
        name = f"SetOption{number}"
        try:
            return on_off(reply_value(await link.command(name, Step.ISSUE, name), name))
        except ValueError:
            raise EnrolmentError(
                Step.ISSUE, "command_error", f"unexpected reply to {name}"
            ) from None

    async def _issue(self, run: _Run, issue: Issuer) -> TlsKeyPayloads:
        try:
            credential = await issue()
        except PkiError as err:
            raise EnrolmentError(Step.ISSUE, err.code, str(err)) from None
        run.record.serial = credential.entry.serial
        run.needs_ecdsa = ecdsa.needs_ecdsa(self._options, credential)
        payloads = credential.payloads
        if payloads is None:
            raise EnrolmentError(Step.ISSUE, "issue_failed", "not a device credential")
        self._guard_size(run.link, payloads)
        return payloads

    def _guard_size(self, link: DeviceLink, payloads: TlsKeyPayloads) -> None:
        """The channel's own limit, on top of the issuer's guard (it may assume another)."""
        if self._options.channel == "http":
            if len("TLSKey2 ") + len(payloads.tlskey2) >= MAX_COMMAND_CHARS:
                raise EnrolmentError(
                    Step.ISSUE, "command_too_long", "TLSKey2 exceeds the web command limit"
                )
            return
        topic = link.device.command_topic("TLSKey2")
        if mqtt_publish_packet_size(topic, len(payloads.tlskey2)) > MAX_MQTT_PACKET_BYTES:
            raise EnrolmentError(
                Step.ISSUE, "packet_too_large", f"TLSKey2 on {topic} exceeds the MQTT packet limit"
            )

    async def _load_credential(self, run: _Run, payloads: TlsKeyPayloads) -> None:
        link = run.link
        await run.enter(Step.SEND_KEY)
        reply = await link.command(f"TLSKey1 {payloads.tlskey1}", Step.SEND_KEY, "TLSKey1")
        self._check_tlskey_reply(reply, Step.SEND_KEY, None)
        await run.enter(Step.SEND_CERT)
        reply = await link.command(f"TLSKey2 {payloads.tlskey2}", Step.SEND_CERT, "TLSKey2")
        self._check_tlskey_reply(reply, Step.SEND_CERT, payloads.der_bytes)
        await run.enter(Step.CONFIRM)
        reply = await link.command("TLSKey", Step.CONFIRM, "TLSKey1")
        self._check_tlskey_reply(reply, Step.CONFIRM, payloads.der_bytes)

    @staticmethod
    def _check_tlskey_reply(
        reply: dict[str, Any], step: EnrolmentStep, der_bytes: int | None
    ) -> None:
        refused = error_reply(reply)
        if refused is not None:
            reason = "no_tlskey_support" if refused.lower() == "unknown" else "command_error"
            raise EnrolmentError(step, reason, f"the device answered {refused!r}")
        key_len, cert_len = reply_value(reply, "TLSKey1"), reply_value(reply, "TLSKey2")
        if key_len != TLSKEY1_BYTES or (der_bytes is not None and cert_len != der_bytes):
            raise EnrolmentError(
                step,
                "length_mismatch",
                f"stored lengths key={key_len} cert={cert_len}, expected "
                f"key={TLSKEY1_BYTES} cert={der_bytes if der_bytes is not None else 'any'}",
            )

    async def _arm(self, link: DeviceLink, previous: PreviousSettings) -> None:
        options = self._options
        slot = options.rule_slot
        try:
            password = options.previous_passwords.get(previous.mqtt_user or "")
            text = rollback_rule(
                previous, slot, options.rule_timer, options.rollback_seconds, password
            )
        except UnsafeSettingsError as err:
            raise EnrolmentError(Step.ARM_ROLLBACK, "unsupported_settings", str(err)) from None
        for command in (f"Rule{slot} 0", f"Rule{slot} {text}", f"Rule{slot} 4", f"Rule{slot} 8"):
            await self._rule_command(link, command, Step.ARM_ROLLBACK)
        state = await self._rule_command(link, f"Rule{slot} 1", Step.ARM_ROLLBACK)
        if not (state.enabled and same_rule_text(state.text, text) and not state.once):
            raise EnrolmentError(Step.ARM_ROLLBACK, "command_error", "the rule was not armed")

    async def _rule_command(self, link: DeviceLink, command: str, step: EnrolmentStep) -> RuleSlot:
        slot = self._options.rule_slot
        reply = await link.command(command, step, f"Rule{slot}")
        try:
            return parse_rule_reply(reply, slot)
        except ValueError:
            raise EnrolmentError(step, "command_error", f"unexpected reply to Rule{slot}") from None

    async def _disarm(self, link: DeviceLink, previous: PreviousSettings) -> None:
        """Stop the timer, give the rule slot its previous content back, check it."""
        await link.command(f"RuleTimer{self._options.rule_timer} 0", Step.DISARM, "T1")
        state: RuleSlot | None = None
        for command in restore_slot_commands(self._options.rule_slot, previous.rule):
            state = await self._rule_command(link, command, Step.DISARM)
        wanted = previous.rule
        if state is None or not (
            state.enabled == wanted.enabled and same_rule_text(state.text, wanted.text)
        ):
            raise EnrolmentError(Step.DISARM, "command_error", "the rule slot was not restored")

    async def _disarm_with_retries(
        self, link: DeviceLink, previous: PreviousSettings
    ) -> EnrolmentError | None:
        """Disarm, trying again on a lost command; the last error if every try failed."""
        last: EnrolmentError | None = None
        for _ in range(DISARM_ATTEMPTS):
            try:
                await self._disarm(link, previous)
            except EnrolmentError as err:
                last = err
                continue
            return None
        _LOGGER.warning("%s: could not disarm the rollback rule: %s", link.device.mac, last)
        return last

    def _switch_command(self, run: _Run) -> str:
        options = self._options
        parts = [f"MqttHost {options.broker_host}", f"MqttPort {options.broker_port}"]
        if options.validation == "fingerprint":
            parts += ["SetOption132 1", f"MqttFingerprint1 {options.fingerprint}"]
            if options.next_fingerprint:
                parts.append(f"MqttFingerprint2 {options.next_fingerprint}")
        else:
            parts.append("SetOption132 0")
            if run.needs_ecdsa:
                parts.append("SetOption165 1")  # the rollback rule restores the previous value
        if options.mqtt_user is not None and options.mqtt_password is not None:
            # The broker's own login for this device (USE_MQTT_CLIENT_CERT builds send it).
            # MqttPassword2: firmware that knows it answers "****" instead of echoing it.
            parts += [f"MqttUser {options.mqtt_user}", f"MqttPassword2 {options.mqtt_password}"]
        parts.append("SetOption103 1")  # last: it restarts the device once the Backlog is done
        return "Backlog " + "; ".join(parts)

    async def _switch_and_finish(
        self, run: _Run, previous: PreviousSettings | None
    ) -> EnrolmentRecord:
        assert previous is not None
        await run.enter(Step.SWITCH)
        switch_error: EnrolmentError | None = None
        try:
            await run.link.command(self._switch_command(run), Step.SWITCH, None)
        except EnrolmentError as err:  # it may have arrived all the same: watch and see
            switch_error = err
        run.record.switched_at = utc_now()
        await run.enter(Step.WAIT_ONLINE)
        await self._conclude(run, previous, Watch(self._options, previous), switch_error)
        return run.record

    async def _conclude(
        self,
        run: _Run,
        previous: PreviousSettings,
        watch: Watch,
        switch_error: EnrolmentError | None,
    ) -> None:
        """Wait for the outcome of a switch, then finish, or undo and fail."""
        outcome = await watch_device(self._transport, run.link, watch, self._options.online_timeout)
        if outcome == Outcome.TLS:
            await self._finish(run, previous)
            return
        if outcome == Outcome.PREVIOUS:
            await self._disarm_with_retries(run.link, previous)
            if switch_error is not None:
                await run.fail(switch_error)
            if previous.ecdsa is not None:  # SetOption165 1 was part of the switch
                await run.fail(ecdsa.unsupported_error())
            await run.fail(
                EnrolmentError(
                    Step.WAIT_ONLINE,
                    "rolled_back",
                    "the device did not connect over TLS and is back on its previous settings",
                )
            )
        await run.fail(
            EnrolmentError(
                Step.WAIT_ONLINE,
                "rollback_unconfirmed",
                "the device was seen neither on TLS nor back on its previous settings",
            )
        )

    async def _finish(self, run: _Run, previous: PreviousSettings) -> None:
        await run.enter(Step.DISARM)
        last = await self._disarm_with_retries(run.link, previous)
        if last is None:
            await run.enter(Step.DONE)
            return
        last.record = copy.deepcopy(run.record)  # left at DISARM: resume() retries
        raise last

    async def _reconnect(self, run: _Run) -> None:
        """Restart the device so its next connection uses the new key; wait for TLS."""
        await run.link.command("Restart 1", Step.SWITCH, "Restart")
        run.record.switched_at = utc_now()
        await run.enter(Step.WAIT_ONLINE)
        outcome = await watch_device(
            self._transport, run.link, Watch(self._options, None), self._options.online_timeout
        )
        if outcome != Outcome.TLS:
            raise EnrolmentError(
                Step.WAIT_ONLINE, "timeout", "the device did not come back Online over TLS"
            )

    def _settled_at(self, switched_at: str | None) -> float:
        """Monotonic time by which a switch sent at ``switched_at`` has surely run."""
        settle = self._options.step_timeout
        if switched_at is not None:
            with contextlib.suppress(ValueError):
                age = (datetime.now(UTC) - datetime.fromisoformat(switched_at)).total_seconds()
                settle = max(0.0, settle - age)
        return time.monotonic() + settle

    async def _resume_renewal(self, run: _Run) -> None:
        step = run.record.step
        if step in (Step.SWITCH, Step.WAIT_ONLINE):
            await run.enter(Step.WAIT_ONLINE)
            watch = Watch(self._options, None, need_fresh_online=False)
            outcome = await watch_device(
                self._transport, run.link, watch, self._options.online_timeout
            )
            if outcome == Outcome.TLS:
                await run.enter(Step.DONE)
                return
            raise EnrolmentError(step, "timeout", "the device is not Online over TLS")
        raise EnrolmentError(
            step, "interrupted", "renewal interrupted before the restart; renew again"
        )
