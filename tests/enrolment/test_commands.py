"""What the engine sends and which replies it accepts (commands.py), without a device."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import EnrolmentError, EnrolmentStep
from custom_components.tasmota_tls.enrolment.commands import (
    arm_commands,
    check_support_reply,
    check_tlskey_reply,
    guard_size,
    rollback_text,
    switch_command,
)
from custom_components.tasmota_tls.enrolment.rollback import PreviousSettings, RuleSlot
from custom_components.tasmota_tls.pki import TlsKeyPayloads
from custom_components.tasmota_tls.pki.limits import MAX_COMMAND_CHARS, TLSKEY1_BYTES

from .helpers import device_for
from .scripted import BROKER, FINGERPRINT, TLS_PORT, options

NEXT_FINGERPRINT = " ".join(["CD"] * 20)
EMPTY_SLOT = RuleSlot(text="", enabled=False, once=False, stop_on_error=False)


def previous(**changes: Any) -> PreviousSettings:
    values: dict[str, Any] = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 1883,
        "tls": False,
        "fingerprint_validation": False,
        "fingerprint1": None,
        "rule": EMPTY_SLOT,
    }
    values.update(changes)
    return PreviousSettings(**values)


def payloads(tlskey2_chars: int) -> TlsKeyPayloads:
    return TlsKeyPayloads(
        tlskey1="k" * 44,
        tlskey2="c" * tlskey2_chars,
        der_bytes=400,
        command_chars=tlskey2_chars + 8,
        packet_bytes=tlskey2_chars + 40,
    )


@pytest.mark.parametrize(
    ("changes", "needs_ecdsa", "middle"),
    [
        pytest.param({}, False, f"SetOption132 1; MqttFingerprint1 {FINGERPRINT}", id="pinned"),
        pytest.param(
            {"next_fingerprint": NEXT_FINGERPRINT},
            False,
            f"SetOption132 1; MqttFingerprint1 {FINGERPRINT}; MqttFingerprint2 {NEXT_FINGERPRINT}",
            id="pinned-with-rotation",
        ),
        pytest.param({"validation": "ca", "fingerprint": None}, False, "SetOption132 0", id="ca"),
        pytest.param(
            {"validation": "ca", "fingerprint": None},
            True,
            "SetOption132 0; SetOption165 1",
            id="ca-ecdsa",
        ),
        pytest.param(
            {"mqtt_user": "plug", "mqtt_password": "pw"},
            False,
            f"SetOption132 1; MqttFingerprint1 {FINGERPRINT}; MqttUser plug; MqttPassword2 pw",
            id="login",
        ),
    ],
)
def test_switch_command(changes: dict[str, Any], needs_ecdsa: bool, middle: str) -> None:
    """One Backlog; SetOption103 1 last, since it restarts the device."""
    command = switch_command(options(**changes), needs_ecdsa)
    assert command == f"Backlog MqttHost {BROKER}; MqttPort {TLS_PORT}; {middle}; SetOption103 1"


def test_ecdsa_is_never_sent_in_fingerprint_mode() -> None:
    assert "SetOption165" not in switch_command(options(), needs_ecdsa=True)


def test_tlskey_reply_with_our_lengths_passes() -> None:
    check_tlskey_reply({"TLSKey1": TLSKEY1_BYTES, "TLSKey2": 400}, EnrolmentStep.CONFIRM, 400)
    # Before the certificate is sent its length is not checked.
    check_tlskey_reply({"tlskey1": TLSKEY1_BYTES, "tlskey2": -1}, EnrolmentStep.SEND_KEY, None)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param({"Command": "Unknown"}, "no_tlskey_support", id="unknown"),
        pytest.param({"Command": "Error"}, "command_error", id="error"),
        pytest.param({"TLSKey1": 0, "TLSKey2": 400}, "length_mismatch", id="key"),
        pytest.param({"TLSKey1": TLSKEY1_BYTES, "TLSKey2": 300}, "length_mismatch", id="cert"),
    ],
)
def test_tlskey_reply_refused(reply: dict[str, Any], reason: str) -> None:
    with pytest.raises(EnrolmentError) as caught:
        check_tlskey_reply(reply, EnrolmentStep.SEND_CERT, 400)
    assert (caught.value.step, caught.value.reason) == (EnrolmentStep.SEND_CERT, reason)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param({"Command": "Unknown"}, "no_tlskey_support", id="stock-firmware"),
        pytest.param({"Other": 1}, "command_error", id="unexpected"),
    ],
)
def test_support_check(reply: dict[str, Any], reason: str) -> None:
    check_support_reply({"TLSKey1": -1, "TLSKey2": -1})
    with pytest.raises(EnrolmentError) as caught:
        check_support_reply(reply)
    assert (caught.value.step, caught.value.reason) == (EnrolmentStep.ISSUE, reason)


def test_size_guard_of_each_channel() -> None:
    device = device_for("plug", "127.0.0.2")
    fits = payloads(MAX_COMMAND_CHARS - len("TLSKey2 ") - 1)
    guard_size(options(), device, fits)
    with pytest.raises(EnrolmentError) as caught:
        guard_size(options(), device, payloads(MAX_COMMAND_CHARS))
    assert caught.value.reason == "command_too_long"
    # Over MQTT the topic counts too: what fits the web command may not fit the packet.
    long_topic = device_for("p" * 200, "127.0.0.2")
    with pytest.raises(EnrolmentError) as caught:
        guard_size(options(channel="mqtt"), long_topic, fits)
    assert (caught.value.step, caught.value.reason) == (EnrolmentStep.ISSUE, "packet_too_large")


def test_arming_writes_the_rule_with_its_flags_off() -> None:
    assert arm_commands(3, "ON x DO y ENDON") == (
        "Rule3 0",
        "Rule3 ON x DO y ENDON",
        "Rule3 4",
        "Rule3 8",
    )


def test_rollback_text_restores_the_previous_settings() -> None:
    text = rollback_text(options(), previous())
    assert "MqttHost 127.0.0.1; MqttPort 1883" in text


def test_settings_a_rule_cannot_restore_are_refused_at_arm_rollback() -> None:
    with pytest.raises(EnrolmentError) as caught:
        rollback_text(options(), previous(mqtt_host="host; Reset 1"))
    assert (caught.value.step, caught.value.reason) == (
        EnrolmentStep.ARM_ROLLBACK,
        "unsupported_settings",
    )
