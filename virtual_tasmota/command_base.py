"""What every command handler shares: the call (XdrvMailbox), the reply, the device it acts on,
and the firmware's small parsers (strtol, GetStateNumber, Shortcut)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .faults import DeviceFaults
from .payloads import dumps
from .settings import DeviceSettings

ERROR = {"Command": "Error"}
_REDACTED_COMMANDS = ("TLSKEY", "MQTTPASSWORD", "WEBPASSWORD")


@dataclass(frozen=True)
class Reply:
    """One publication: stat/<topic>/<subtopic> with a JSON (or plain) payload."""

    subtopic: str
    payload: str


@dataclass
class Call:
    """XdrvMailbox: one command as the handlers see it."""

    name: str  # the table spelling, e.g. "TLSKey"
    index: int
    user_index: bool
    data: str
    payload: int


type Result = list[Reply] | dict[str, Any] | None


class CommandHost(Protocol):
    """What commands read and change on a device."""

    settings: DeviceSettings
    faults: DeviceFaults
    power: int

    def save_settings(self) -> None: ...
    def request_restart(self, reason: str) -> None: ...
    def queue_backlog(self, commands: list[str], *, nodelay: bool) -> None: ...
    def clear_backlog(self) -> bool: ...
    def set_rule_timer(self, index: int, seconds: float) -> None: ...
    def rule_timers_left(self) -> list[int]: ...
    def log(self, message: str) -> None: ...
    def publish_soon(self, topic: str, payload: str, *, retain: bool) -> None: ...
    def full_topic(self, prefix: int, subtopic: str) -> str: ...
    def raise_event(self, event: str, value: str) -> None: ...
    def status_block(self, number: int) -> dict[str, Any] | None: ...


type Handler = Callable[[CommandHost, Call], Result]  # one row of the command table


def strtol(text: str) -> int | None:
    """C strtol(text, &p, 0): decimal, 0x hex or 0 octal prefix; None when no digits."""
    match = re.match(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if match is None:
        return None
    sign, digits = match.groups()
    value = (
        int(digits, 16)
        if digits[:2].lower() == "0x"
        else int(digits, 8)
        if digits.startswith("0")
        else int(digits)
    )
    return -value if sign == "-" else value


def state_number(text: str) -> int:
    """GetStateNumber: OFF/ON/TOGGLE/... as numbers, -1 for anything else."""
    words = {
        "OFF": 0,
        "FALSE": 0,
        "STOP": 0,
        "ON": 1,
        "TRUE": 1,
        "START": 1,
        "TOGGLE": 2,
        "BLINK": 3,
        "BLINKOFF": 4,
    }
    return words.get(text.strip().upper(), -1)


def split_command(text: str) -> tuple[str, str]:
    """ExecuteCommand: the command word (letters, digits, _ and /) and what follows."""
    stripped = text.lstrip()
    match = re.match(r"[A-Za-z0-9_/]*", stripped)
    word = match.group(0) if match else ""
    rest = stripped[len(word) :]
    return word.rsplit("/", 1)[-1], rest


def shortcut(data: str) -> str | None:
    """Shortcut(): '"' or "0" clears, "1" means the firmware default, "2" the user default."""
    if data == '"':
        return "clear"
    if len(data) == 1 and data in "012":
        return {"0": "clear", "1": "default", "2": "user"}[data]
    return None


def to_json(data: dict[str, Any]) -> str:
    return dumps(data)


def redact(text: str) -> str:
    """A command line fit for the log: keys and passwords replaced by their length."""
    parts = []
    for part in text.split(";"):
        word, rest = split_command(part)
        shown = part
        if word.upper().rstrip("0123456789") in _REDACTED_COMMANDS and rest.strip():
            lead = part[: len(part) - len(part.lstrip())]
            shown = f"{lead}{word} <{len(rest.strip())} characters>"
        elif word.upper() in ("BACKLOG", "BACKLOG0") and rest.strip():
            head = part[: part.upper().index(word.upper()) + len(word)]
            shown = f"{head} {redact(rest.lstrip())}"
        parts.append(shown)
    return ";".join(parts)
