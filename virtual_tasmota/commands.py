"""Command handling, after support_command.ino's CommandHandler and the drivers' Cmnd* functions.

A command word is upper-cased, trailing digits become its index (1 when absent), the
data loses leading spaces, and the reply starts as {"Command":"Error"} so that a
handler which returns without answering reports exactly that, as the firmware does.
Unknown words answer {"Command":"Unknown"}. Replies carry the table's spelling of the
command ("TLSKey", "MqttHost"), not the caller's. The core commands live here; MQTT
settings, TLSKey and rules have modules of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .cmnd_mqtt import HANDLERS as MQTT_HANDLERS
from .cmnd_rules import HANDLERS as RULE_HANDLERS
from .cmnd_rules import MAX_RULE_TIMERS
from .cmnd_tlskey import HANDLERS as TLSKEY_HANDLERS
from .command_base import (
    ERROR,
    Call,
    CommandHost,
    Handler,
    Reply,
    shortcut,
    split_command,
    state_number,
    strtol,
    to_json,
)
from .payloads import STATE_TEXTS

__all__ = ["MAX_RULE_TIMERS", "CommandHost", "Commands", "Reply", "split_command"]

StatusBuilder = Callable[[int], dict[str, Any] | None]  # payloads.status_block for a device
MAX_STATUS = 13
MAX_BACKLOG = 30


class Commands:
    """The command table of one device."""

    def __init__(self, host: CommandHost, status_builder: StatusBuilder | None = None) -> None:
        """status_builder defaults to host.status_block (payloads.status_block for the host)."""
        self._host = host
        if status_builder is None:
            status_builder = host.status_block
        handlers: dict[str, Handler] = {
            "Backlog": backlog,
            "Restart": restart,
            "Status": lambda host, call: status(call, status_builder),
            "SetOption": setoption,
            "SO": setoption,
            **MQTT_HANDLERS,
            **TLSKEY_HANDLERS,
            **RULE_HANDLERS,
            "WebPassword": web_password,
            "DeviceName": device_name,
            "FriendlyName": friendly_name,
            "Power": power,
            "State": lambda host, call: state(call, status_builder),
            "Publish": publish,
        }
        self._table = {name.upper(): (name, handler) for name, handler in handlers.items()}

    def execute(self, command_word: str, data: str) -> list[Reply]:
        """CommandHandler for the last topic level (or first word) and its data."""
        match = re.fullmatch(r"(.*?)(\d*)", command_word.upper())
        assert match is not None
        word, digits = match.groups()
        index = int(digits) if digits else 1
        data = data.lstrip()
        if data == "?":
            data = ""
        payload = strtol(data)
        number = state_number(data)
        if number < 0:
            number = payload if payload is not None else -99
        entry = self._table.get(word)
        if entry is None or (word == "TLSKEY" and self._host.faults.no_tlskey):
            return [Reply("RESULT", to_json({"Command": "Unknown"}))]
        name, handler = entry
        call = Call(name=name, index=index, user_index=bool(digits), data=data, payload=number)
        result = handler(self._host, call)
        if result is None:
            return [Reply("RESULT", to_json(ERROR))]
        if isinstance(result, dict):
            return [Reply("RESULT", to_json(result))]
        return result

    def execute_text(self, text: str) -> list[Reply]:
        """A whole command line, as typed in the console, sent to /cm or run by a rule."""
        word, rest = split_command(text)
        if not word:
            return []
        return self.execute(word, rest)


def backlog(host: CommandHost, call: Call) -> list[Reply] | dict[str, Any]:
    if not call.data:
        was_empty = host.clear_backlog()
        return {call.name: "Empty" if was_empty else "Aborted"}
    commands: list[str] = []
    for piece in split_backlog(call.data):
        item = piece.strip()
        while item.upper().startswith("BACKLOG"):
            item = item[len("BACKLOG") :].strip()
        if item and not item.upper().startswith("RESET") and len(commands) < MAX_BACKLOG:
            commands.append(item)
    host.queue_backlog(commands, nodelay=call.user_index and call.index == 0)
    return []  # ResponseClear(): nothing is published


def restart(host: CommandHost, call: Call) -> dict[str, Any]:
    if call.payload == 1:
        host.request_restart("Restart 1")
        return {call.name: "Restarting"}
    if call.payload == 99:
        host.request_restart("Restart 99")
        return {call.name: "Restarting"}
    return {call.name: "1 to restart"}


def status(call: Call, status_block: StatusBuilder) -> list[Reply] | None:
    payload = 0 if (call.user_index and call.index == 0) else call.payload
    if payload > MAX_STATUS or payload in (9, 12, 13):
        return None  # {"Command":"Error"}
    numbers = (
        [0, 1, 2, 3, 4, 5, 6, 7, 10, 11] if payload == 0 else [0] if payload == -99 else [payload]
    )
    blocks: list[tuple[int, dict[str, Any]]] = []
    for number in numbers:
        block = status_block(number)
        if block is not None:
            blocks.append((number, block))
    if not blocks:
        return None
    if call.user_index and call.index == 0:  # Status0: everything in one message
        merged: dict[str, Any] = {}
        for _, block in blocks:
            merged.update(block)
        return [Reply("STATUS0", to_json(merged))]
    return [Reply(f"STATUS{number or ''}", to_json(block)) for number, block in blocks]


def setoption(host: CommandHost, call: Call) -> dict[str, Any] | None:
    """CmndSetoptionBase for the options that matter here. The reply always says SetOption
    (SO is renamed); writing 103 (TLS) or 132 (fingerprint mode) sets the restart flag,
    whatever the value; a value other than 0 or 1 is an error."""
    s = host.settings
    attr = {103: "setoption103", 132: "setoption132", 165: "setoption165"}.get(call.index)
    if attr is None:
        return None
    if call.payload >= 0:
        if call.payload > 1:
            return None
        setattr(s, attr, call.payload)
        host.save_settings()
        if call.index in (103, 132):
            host.request_restart(f"SetOption{call.index} {call.payload}")
    return {f"SetOption{call.index}": STATE_TEXTS[getattr(s, attr)]}


def web_password(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if call.data:
        s.web_password = "" if shortcut(call.data) == "clear" else call.data
        host.save_settings()
    return {call.name: "****"}


def device_name(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if call.data:
        s.device_name = "Tasmota" if shortcut(call.data) else call.data
        host.save_settings()
    return {call.name: s.device_name}


def friendly_name(host: CommandHost, call: Call) -> dict[str, Any] | None:
    if call.index != 1:
        return None
    s = host.settings
    if call.data:
        s.friendly_name = "Tasmota" if shortcut(call.data) else call.data
        host.save_settings()
    return {f"{call.name}{call.index}": s.friendly_name}


def power(host: CommandHost, call: Call) -> list[Reply] | None:
    """One relay; like MqttPublishPowerState: JSON on RESULT and plain text on POWER."""
    if call.index != 1:
        return None
    before = host.power
    if call.payload in (0, 1):
        host.power = call.payload
    elif call.payload == 2:
        host.power ^= 1
    if host.power != before:
        host.raise_event("Power1#State", str(host.power))
    state = STATE_TEXTS[host.power]
    return [Reply("RESULT", to_json({"POWER": state})), Reply("POWER", state)]


def publish(host: CommandHost, call: Call) -> list[Reply] | None:
    """Publish <topic> <payload>; Publish2 retains. '#' in the topic stands for a space."""
    if not call.data:
        return None
    topic, _, payload = call.data.partition(" ")
    host.publish_soon(topic.replace("#", " "), payload, retain=call.index == 2)
    return []


def state(call: Call, status_block: StatusBuilder) -> dict[str, Any] | None:
    block = status_block(11)
    return block["StatusSTS"] if block else None


def split_backlog(data: str) -> list[str]:
    """Split on ';' except inside {...}, as CmndBacklog does."""
    pieces: list[str] = []
    current = ""
    for part in data.split(";"):
        current = f"{current};{part}" if current else part
        if current.count("{") == current.count("}"):
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
