"""Rule<n> and RuleTimer<n> (xdrv_10_rules.ino): rule sets in flash, timers in RAM."""

from __future__ import annotations

from typing import Any

from .command_base import Call, CommandHost, Handler, Reply, to_json
from .payloads import STATE_TEXTS
from .rules import parse_rule_set
from .settings import MAX_RULE_SETS, MAX_RULE_SIZE

MAX_RULE_TIMERS = 8


def rule(host: CommandHost, call: Call) -> list[Reply] | None:
    s = host.settings
    if call.user_index and call.index == 0:
        return [rule_report(host, number) for number in range(1, MAX_RULE_SETS + 1)]
    if not 1 <= call.index <= MAX_RULE_SETS:
        return None
    i = call.index - 1
    if call.data:
        if 0 <= call.payload <= 10:
            _rule_flags(host, i, call.payload)
        else:
            text = call.data
            if text.startswith("+"):
                text = s.rules[i] + " " + text[1:].lstrip()
            elif text.startswith('"'):
                text = ""
            if len(text) >= MAX_RULE_SIZE:
                host.log("RUL: Not enough space")
            else:
                s.rules[i] = text
                if text and not parse_rule_set(text):
                    host.log(f"RUL: Rule{call.index} has no valid ON ... DO ... ENDON block")
        host.save_settings()
    return [rule_report(host, call.index, call.name)]


def rule_report(host: CommandHost, number: int, name: str = "Rule") -> Reply:
    s = host.settings
    i = number - 1
    text = s.rules[i]
    report = {
        "State": STATE_TEXTS[s.rule_enabled[i]],
        "Once": STATE_TEXTS[s.rule_once[i]],
        "StopOnError": STATE_TEXTS[s.rule_stop[i]],
        "Length": len(text),
        "Free": MAX_RULE_SIZE - len(text) - 1,
        "Rules": text,
    }
    return Reply("RESULT", to_json({f"{name}{number}": report}))


def _rule_flags(host: CommandHost, i: int, value: int) -> None:
    s = host.settings
    if value in (0, 1):
        s.rule_enabled[i] = value
    elif value == 2:
        s.rule_enabled[i] ^= 1
    elif value in (4, 5):
        s.rule_once[i] = value & 1
    elif value == 6:
        s.rule_once[i] ^= 1
    elif value in (8, 9):
        s.rule_stop[i] = value & 1
    elif value == 10:
        s.rule_stop[i] ^= 1


def ruletimer(host: CommandHost, call: Call) -> dict[str, Any] | None:
    if call.index > MAX_RULE_TIMERS:
        return None
    if call.data:
        try:
            seconds = float(call.data.split()[0])
        except ValueError:
            seconds = 0.0
        targets = range(1, MAX_RULE_TIMERS + 1) if call.index == 0 else [call.index]
        for number in targets:
            host.set_rule_timer(number, max(seconds, 0.0))
    left = host.rule_timers_left()
    return {f"T{n + 1}": left[n] for n in range(MAX_RULE_TIMERS)}


HANDLERS: dict[str, Handler] = {"Rule": rule, "RuleTimer": ruletimer}
