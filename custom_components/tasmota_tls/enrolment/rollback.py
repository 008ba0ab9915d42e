"""The device-side safety net: a Tasmota rule that undoes the switch by itself.

Armed before the switch, the rule is::

    ON System#Init DO RuleTimer<t> <seconds> ENDON
    ON Mqtt#Connected DO RuleTimer<t> 0 ENDON
    ON Rules#Timer=<t> DO Backlog Rule<k> 0; MqttHost <old>; MqttPort <old>;
        SetOption132 <old>; [MqttFingerprint1 <old>;] [SetOption165 <old>;]
        SetOption103 <old> ENDON

Why these triggers (read from xdrv_10_rules.ino / xdrv_02_9_mqtt.ino):
- System#Init fires at the end of every boot, network or not. System#Boot would
  not do: it fires only after the first MQTT connection, so a device that cannot
  reach the TLS listener would never start the timer and stay stranded.
- Mqtt#Connected fires on every successful connection and stops the timer.
- The restore disables its own rule first (``Rule<k> 0``): the old settings are
  the ones the device was working with, and a broker that is down for good must
  not make the device restart every few minutes. The device restarts once the
  Backlog is done (MqttHost and SetOption103 ask for it; Tasmota waits for an
  empty Backlog before restarting), so every restored value takes effect.
- ``Rule<k> "`` clears a slot; a quoted text would not be stored, so the rule text
  is sent bare. Rule<k> 0/1 sets enabled, 4/5 "once", 8/9 "stop on error".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .device_link import reply_value
from .model import valid_fingerprint, valid_host, valid_login_text

MAX_RULE_CHARS = 511  # a rule set holds 512 bytes with its terminator
# What Tasmota's command parser reads as Rule<k>'s number rather than as rule text:
# a leading integer (strtol, so "1 ON ..." and "0x5" count) or a state word
# (GetStateNumber in support.ino); 0..10 set flags, so such a text is never stored.
_NUMBER_PREFIX = re.compile(r"[-+]?\d")
_STATE_WORDS = frozenset(
    {"off", "false", "stop", "celsius", "on", "true", "start", "fahrenheit", "user"}
    | {"toggle", "admin", "blink", "blinkoff"}
)


class UnsafeSettingsError(ValueError):
    """The previous settings cannot be written into a rule or Backlog verbatim."""


@dataclass(frozen=True)
class RuleSlot:
    """One rule set's content and flags, as ``Rule<k>`` reports them."""

    text: str
    enabled: bool
    once: bool
    stop_on_error: bool


@dataclass(frozen=True)
class PreviousSettings:
    """What the device used before the switch; stored in EnrolmentRecord.previous."""

    mqtt_host: str
    mqtt_port: int
    tls: bool  # SetOption103
    fingerprint_validation: bool  # SetOption132
    fingerprint1: str | None  # only kept when the device already used fingerprint TLS
    rule: RuleSlot
    # SetOption165 before an enrolment that sets it (EC CA in CA mode); None: left alone.
    ecdsa: bool | None = None
    # MqttUser before an enrolment that gives the device its own login; None: left alone.
    # Its password is never kept here (the record is persisted): see restore_backlog.
    mqtt_user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreviousSettings:
        rule = data["rule"]
        return cls(
            mqtt_host=str(data["mqtt_host"]),
            mqtt_port=int(data["mqtt_port"]),
            tls=bool(data["tls"]),
            fingerprint_validation=bool(data["fingerprint_validation"]),
            fingerprint1=data.get("fingerprint1"),
            rule=RuleSlot(
                text=str(rule["text"]),
                enabled=bool(rule["enabled"]),
                once=bool(rule["once"]),
                stop_on_error=bool(rule["stop_on_error"]),
            ),
            ecdsa=None if data.get("ecdsa") is None else bool(data["ecdsa"]),
            mqtt_user=None if data.get("mqtt_user") is None else str(data["mqtt_user"]),
        )


def on_off(value: Any) -> bool:
    """Tasmota's "ON"/"OFF" (or 1/0) as a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().upper() in ("ON", "1", "TRUE")
    raise ValueError(f"not an ON/OFF value: {value!r}")


def parse_rule_reply(reply: dict[str, Any], slot: int) -> RuleSlot:
    """Read ``Rule<k>``'s reply, in the nested (current) or flat (older) form."""
    head = reply_value(reply, f"Rule{slot}")
    if isinstance(head, dict):  # {"Rule3":{"State":"OFF","Once":..,"Rules":".."}}
        body = head
        state = reply_value(body, "State")
    else:  # {"Rule3":"OFF","Once":"OFF","StopOnError":"OFF",..,"Rules":".."}
        body = reply
        state = head
    if state is None or reply_value(body, "Rules") is None:
        raise ValueError(f"not a Rule{slot} reply")
    return RuleSlot(
        text=str(reply_value(body, "Rules")),
        enabled=on_off(state),
        once=on_off(reply_value(body, "Once") or "OFF"),
        stop_on_error=on_off(reply_value(body, "StopOnError") or "OFF"),
    )


def restore_backlog(previous: PreviousSettings, password: str | None = None) -> str:
    """The commands that put the MQTT settings back; the restarting one comes last.

    The previous MqttUser/MqttPassword come back only when ``password`` (the previous
    login's, known to the broker's options) is given and both fit a rule. Otherwise the
    device keeps its new login, which the add-on accepts on every listener, plain ones too.
    """
    if not valid_host(previous.mqtt_host):
        raise UnsafeSettingsError("the previous MqttHost cannot be restored by a rule")
    parts = [
        f"MqttHost {previous.mqtt_host}",
        f"MqttPort {previous.mqtt_port}",
        f"SetOption132 {int(previous.fingerprint_validation)}",
    ]
    if previous.fingerprint1 is not None:
        if not valid_fingerprint(previous.fingerprint1):
            raise UnsafeSettingsError("the previous MqttFingerprint1 is not restorable")
        parts.append(f"MqttFingerprint1 {previous.fingerprint1}")
    if previous.ecdsa is not None:
        parts.append(f"SetOption165 {int(previous.ecdsa)}")
    user = previous.mqtt_user
    if user and password and valid_login_text(user) and valid_login_text(password):
        parts += [f"MqttUser {user}", f"MqttPassword {password}"]
    parts.append(f"SetOption103 {int(previous.tls)}")
    return "; ".join(parts)


def rollback_rule(
    previous: PreviousSettings, slot: int, timer: int, seconds: int, password: str | None = None
) -> str:
    """The rule text to arm in ``Rule<slot>`` (see the module docstring)."""
    restore = restore_backlog(previous, password)
    text = (
        f"ON System#Init DO RuleTimer{timer} {seconds} ENDON "
        f"ON Mqtt#Connected DO RuleTimer{timer} 0 ENDON "
        f"ON Rules#Timer={timer} DO Backlog Rule{slot} 0; {restore} ENDON"
    )
    if len(text) > MAX_RULE_CHARS:
        raise UnsafeSettingsError("the rollback rule would not fit a rule set")
    return text


def same_rule_text(stored: str, sent: str) -> bool:
    """Tasmota keeps the text as sent; compare loosely on case and spacing anyway."""
    return " ".join(stored.split()).lower() == " ".join(sent.split()).lower()


def check_restorable(rule: RuleSlot) -> None:
    """Raise UnsafeSettingsError unless restore_slot_commands can give ``rule`` back.

    Checked before anything changes: a slot that cannot be written back verbatim
    would leave the device switched with the rollback rule armed for good. A real
    slot seldom holds such a text (most of them the firmware would not have stored);
    a reply reporting one is likely forged or garbled, and either way the enrolment
    stops while nothing has changed.
    """
    text = rule.text.strip()
    if not text:
        return
    if len(text) > MAX_RULE_CHARS:
        raise UnsafeSettingsError("the previous rule is longer than a rule set holds")
    if not text.isprintable():
        raise UnsafeSettingsError("the previous rule holds control characters")
    if text[0] in '"+' or _NUMBER_PREFIX.match(text) or text.lower() in _STATE_WORDS:
        raise UnsafeSettingsError("the previous rule would be read as a Rule command's option")


def restore_slot_commands(slot: int, rule: RuleSlot) -> list[str]:
    """Commands that give ``Rule<slot>`` back its previous content and flags.

    Disabled first, so a half-restored slot never runs.
    """
    text = rule.text.strip()  # the firmware trims a command's argument
    return [
        f"Rule{slot} 0",
        f"Rule{slot} {text}" if text else f'Rule{slot} "',
        f"Rule{slot} {5 if rule.once else 4}",
        f"Rule{slot} {9 if rule.stop_on_error else 8}",
        f"Rule{slot} {int(rule.enabled)}",
    ]
