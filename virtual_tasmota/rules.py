"""Tasmota rule sets: `ON <trigger> DO <commands> ENDON|BREAK`, matched like xdrv_10_rules.

Only the parsing and matching live here; the device runs the commands. Triggers are
compared case-insensitively as `Name#Item[<op><value>]`, values numerically where
both sides are numbers (as the firmware does with CharToFloat) and as text for `=`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longest operators first so that ">=" is not read as ">".
_OPERATORS = ("!=", ">=", "<=", "==", "=", ">", "<")


@dataclass(frozen=True)
class RuleBlock:
    trigger: str  # upper case, e.g. "RULES#TIMER=1"
    commands: str  # as written, e.g. "Backlog MqttHost x; MqttPort 1883"
    is_break: bool


def parse_rule_set(text: str) -> list[RuleBlock]:
    """Split a rule set into its ON ... DO ... ENDON blocks; stop at bad syntax, as the firmware."""
    blocks: list[RuleBlock] = []
    rest = text.strip()
    while rest:
        upper = rest.upper()
        if not upper.startswith("ON "):
            break
        do_at = upper.find(" DO ")
        if do_at == -1:
            break
        ends = [pos for pos in (upper.find(" ENDON"), upper.find(" BREAK")) if pos != -1]
        if not ends:
            break
        end = min(ends)
        blocks.append(
            RuleBlock(
                trigger=upper[3:do_at].strip(),
                commands=rest[do_at + 4 : end].strip(),
                is_break=upper.startswith(" BREAK", end),
            )
        )
        rest = rest[end + 6 :].strip()
    return blocks


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def split_trigger(trigger: str) -> tuple[str, str, str]:
    """("RULES#TIMER", "=", "1") for "RULES#TIMER=1"; ("MQTT#CONNECTED", "", "") without a test."""
    for candidate in _OPERATORS:
        pos = trigger.find(candidate)
        if pos > 0:
            return trigger[:pos].strip(), candidate, trigger[pos + len(candidate) :].strip()
    return trigger, "", ""


def trigger_matches(trigger: str, event_name: str, event_value: str | None) -> bool:
    """Does `trigger` (e.g. "RULES#TIMER=1") fire for event `Rules#Timer` with value "1"?"""
    name, op, wanted = split_trigger(trigger)
    if name.upper() != event_name.upper():
        return False
    if not op:
        return True
    if event_value is None:
        return False
    have_num, want_num = _as_float(event_value), _as_float(wanted)
    if op == "=":
        return event_value.upper() == wanted.upper()
    if have_num is None or want_num is None:
        return op == "!=" and event_value.upper() != wanted.upper()
    return {
        "==": have_num == want_num,
        "!=": have_num != want_num,
        ">": have_num > want_num,
        "<": have_num < want_num,
        ">=": have_num >= want_num,
        "<=": have_num <= want_num,
    }[op]


def substitute(commands: str, value: str, topic: str) -> str:
    """%value% and %topic% in a rule's commands, case-insensitive, as RulesVarReplace does."""
    replacements = {"%VALUE%": value, "%TOPIC%": topic}
    return re.sub(
        "%VALUE%|%TOPIC%", lambda m: replacements[m.group(0).upper()], commands, flags=re.I
    )
