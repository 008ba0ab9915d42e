"""The commands the engine sends and the checks of their replies (no I/O here).

Kept apart from the steps so that what goes to a device, and what counts as a good
answer, can be read (and tested) without a device or a transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..pki.limits import (
    MAX_COMMAND_CHARS,
    MAX_MQTT_PACKET_BYTES,
    TLSKEY1_BYTES,
    mqtt_publish_packet_size,
)
from .device_link import error_reply, reply_value
from .model import EnrolmentError, EnrolmentOptions, EnrolmentStep
from .rollback import PreviousSettings, UnsafeSettingsError, rollback_rule

if TYPE_CHECKING:
    from ..discovery import TasmotaDevice
    from ..pki import TlsKeyPayloads

Step = EnrolmentStep


def check_support_reply(reply: dict[str, Any]) -> None:
    """``TLSKey`` alone reports the stored lengths; stock firmware does not know it."""
    if error_reply(reply) is not None:
        raise EnrolmentError(
            Step.ISSUE,
            "no_tlskey_support",
            f"the firmware answered TLSKey with {error_reply(reply)!r}: it lacks "
            "USE_MQTT_TLS with USE_MQTT_CLIENT_CERT",
        )
    if reply_value(reply, "TLSKey1") is None:
        raise EnrolmentError(Step.ISSUE, "command_error", "unexpected reply to TLSKey")


def guard_size(options: EnrolmentOptions, device: TasmotaDevice, payloads: TlsKeyPayloads) -> None:
    """The channel's own limit, on top of the issuer's guard (it may assume another)."""
    if options.channel == "http":
        if len("TLSKey2 ") + len(payloads.tlskey2) >= MAX_COMMAND_CHARS:
            raise EnrolmentError(
                Step.ISSUE, "command_too_long", "TLSKey2 exceeds the web command limit"
            )
        return
    topic = device.command_topic("TLSKey2")
    if mqtt_publish_packet_size(topic, len(payloads.tlskey2)) > MAX_MQTT_PACKET_BYTES:
        raise EnrolmentError(
            Step.ISSUE, "packet_too_large", f"TLSKey2 on {topic} exceeds the MQTT packet limit"
        )


def check_tlskey_reply(reply: dict[str, Any], step: EnrolmentStep, der_bytes: int | None) -> None:
    """The stored lengths a TLSKey command reports: 32 for the key, our DER length."""
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


def rollback_text(options: EnrolmentOptions, previous: PreviousSettings) -> str:
    """The rule that restores ``previous`` if MQTT stays down after a boot."""
    password = options.previous_passwords.get(previous.mqtt_user or "")
    try:
        return rollback_rule(
            previous, options.rule_slot, options.rule_timer, options.rollback_seconds, password
        )
    except UnsafeSettingsError as err:
        raise EnrolmentError(Step.ARM_ROLLBACK, "unsupported_settings", str(err)) from None


def arm_commands(slot: int, text: str) -> tuple[str, ...]:
    """Slot off, the rule, Once off, StopOnError off; ``Rule<slot> 1`` then turns it on."""
    return (f"Rule{slot} 0", f"Rule{slot} {text}", f"Rule{slot} 4", f"Rule{slot} 8")


def switch_command(options: EnrolmentOptions, needs_ecdsa: bool) -> str:
    """One Backlog, so the device restarts once, with everything TLS needs."""
    parts = [f"MqttHost {options.broker_host}", f"MqttPort {options.broker_port}"]
    if options.validation == "fingerprint":
        parts += ["SetOption132 1", f"MqttFingerprint1 {options.fingerprint}"]
        if options.next_fingerprint:
            parts.append(f"MqttFingerprint2 {options.next_fingerprint}")
    else:
        parts.append("SetOption132 0")
        if needs_ecdsa:
            parts.append("SetOption165 1")  # the rollback rule restores the previous value
    if options.mqtt_user is not None and options.mqtt_password is not None:
        # The broker's own login for this device (USE_MQTT_CLIENT_CERT builds send it).
        # MqttPassword2: firmware that knows it answers "****" instead of echoing it.
        parts += [f"MqttUser {options.mqtt_user}", f"MqttPassword2 {options.mqtt_password}"]
    parts.append("SetOption103 1")  # last: it restarts the device once the Backlog is done
    return "Backlog " + "; ".join(parts)
