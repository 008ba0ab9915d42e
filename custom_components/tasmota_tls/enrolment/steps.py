"""The engine's steps on the device up to the switch, and the disarm after it.

ISSUE reads what the device runs on today (so that the rollback rule can restore it)
and issues the credential; SEND_KEY, SEND_CERT and CONFIRM load and check it;
ARM_ROLLBACK puts the rule in place. Until the switch nothing the device runs on
has changed. DISARM gives the rule slot its previous content back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..pki.errors import PkiError
from .commands import (
    arm_commands,
    check_support_reply,
    check_tlskey_reply,
    guard_size,
    rollback_text,
)
from .device_link import DeviceLink, reply_value
from .ecdsa import needs_ecdsa
from .model import EnrolmentError, EnrolmentStep, Issuer
from .rollback import (
    PreviousSettings,
    RuleSlot,
    UnsafeSettingsError,
    check_restorable,
    on_off,
    parse_rule_reply,
    restore_slot_commands,
    same_rule_text,
)
from .watch import MqttStatus

if TYPE_CHECKING:
    from ..pki import TlsKeyPayloads
    from .run import Run

_LOGGER = logging.getLogger(__name__)

Step = EnrolmentStep
DISARM_ATTEMPTS = 3


async def check_support(link: DeviceLink) -> None:
    """Stock firmware has no TLSKey command: refused before anything changes."""
    check_support_reply(await link.command("TLSKey", Step.ISSUE, "TLSKey1"))


async def status6(link: DeviceLink, step: EnrolmentStep) -> MqttStatus:
    status = MqttStatus.from_reply(await link.command("Status 6", step, "StatusMQT"))
    if status is None:
        raise EnrolmentError(step, "command_error", "unexpected reply to Status 6")
    return status


async def option(link: DeviceLink, number: int) -> bool:
    name = f"SetOption{number}"
    try:
        return on_off(reply_value(await link.command(name, Step.ISSUE, name), name))
    except ValueError:
        raise EnrolmentError(Step.ISSUE, "command_error", f"unexpected reply to {name}") from None


async def read_previous(run: Run) -> PreviousSettings:
    """What the device connects with today, and what its rule slot holds."""
    link, options = run.link, run.options
    slot = options.rule_slot
    status = await status6(link, Step.ISSUE)
    tls = await option(link, 103)
    fp_mode = await option(link, 132)
    fingerprint = None
    if tls and fp_mode:
        value = reply_value(
            await link.command("MqttFingerprint1", Step.ISSUE, "MqttFingerprint1"),
            "MqttFingerprint1",
        )
        fingerprint = value if isinstance(value, str) else None
    try:
        rule = parse_rule_reply(await link.command(f"Rule{slot}", Step.ISSUE, f"Rule{slot}"), slot)
    except ValueError as err:
        raise EnrolmentError(Step.ISSUE, "command_error", str(err)) from None
    try:  # what DISARM could not give back must stop us before the switch
        check_restorable(rule)
    except UnsafeSettingsError as err:
        raise EnrolmentError(Step.ISSUE, "unsupported_settings", str(err)) from None
    user = None
    if options.mqtt_user is not None:  # the switch sets a login: remember the old
        value = reply_value(await link.command("MqttUser", Step.ISSUE, "MqttUser"), "MqttUser")
        user = value if isinstance(value, str) else None
    return PreviousSettings(
        status.host, status.port, tls, fp_mode, fingerprint, rule, mqtt_user=user
    )


async def issue_credential(run: Run, issue: Issuer) -> TlsKeyPayloads:
    """The credential's serial goes into the record; its key material never does."""
    try:
        credential = await issue()
    except PkiError as err:
        raise EnrolmentError(Step.ISSUE, err.code, str(err)) from None
    run.record.serial = credential.entry.serial
    run.needs_ecdsa = needs_ecdsa(run.options, credential)
    payloads = credential.payloads
    if payloads is None:
        raise EnrolmentError(Step.ISSUE, "issue_failed", "not a device credential")
    guard_size(run.options, run.link.device, payloads)
    return payloads


async def load_credential(run: Run, payloads: TlsKeyPayloads) -> None:
    """SEND_KEY, SEND_CERT, CONFIRM: each reply must report the lengths we sent."""
    link = run.link
    await run.enter(Step.SEND_KEY)
    reply = await link.command(f"TLSKey1 {payloads.tlskey1}", Step.SEND_KEY, "TLSKey1")
    check_tlskey_reply(reply, Step.SEND_KEY, None)
    await run.enter(Step.SEND_CERT)
    reply = await link.command(f"TLSKey2 {payloads.tlskey2}", Step.SEND_CERT, "TLSKey2")
    check_tlskey_reply(reply, Step.SEND_CERT, payloads.der_bytes)
    await run.enter(Step.CONFIRM)
    reply = await link.command("TLSKey", Step.CONFIRM, "TLSKey1")
    check_tlskey_reply(reply, Step.CONFIRM, payloads.der_bytes)


async def rule_command(run: Run, command: str, step: EnrolmentStep) -> RuleSlot:
    slot = run.options.rule_slot
    reply = await run.link.command(command, step, f"Rule{slot}")
    try:
        return parse_rule_reply(reply, slot)
    except ValueError:
        raise EnrolmentError(step, "command_error", f"unexpected reply to Rule{slot}") from None


async def arm(run: Run, previous: PreviousSettings) -> None:
    """Put the rollback rule in the slot and check that the device holds it, armed."""
    slot = run.options.rule_slot
    text = rollback_text(run.options, previous)
    for command in arm_commands(slot, text):
        await rule_command(run, command, Step.ARM_ROLLBACK)
    state = await rule_command(run, f"Rule{slot} 1", Step.ARM_ROLLBACK)
    if not (state.enabled and same_rule_text(state.text, text) and not state.once):
        raise EnrolmentError(Step.ARM_ROLLBACK, "command_error", "the rule was not armed")


async def disarm(run: Run, previous: PreviousSettings) -> None:
    """Stop the timer, give the rule slot its previous content back, check it."""
    await run.link.command(f"RuleTimer{run.options.rule_timer} 0", Step.DISARM, "T1")
    state: RuleSlot | None = None
    for command in restore_slot_commands(run.options.rule_slot, previous.rule):
        state = await rule_command(run, command, Step.DISARM)
    wanted = previous.rule
    if state is None or not (
        state.enabled == wanted.enabled and same_rule_text(state.text, wanted.text)
    ):
        raise EnrolmentError(Step.DISARM, "command_error", "the rule slot was not restored")


async def disarm_with_retries(run: Run, previous: PreviousSettings) -> EnrolmentError | None:
    """Disarm, trying again on a lost command; the last error if every try failed."""
    last: EnrolmentError | None = None
    for _ in range(DISARM_ATTEMPTS):
        try:
            await disarm(run, previous)
        except EnrolmentError as err:
            last = err
            continue
        return None
    _LOGGER.warning("%s: could not disarm the rollback rule: %s", run.link.device.mac, last)
    return last
