"""Command handling, after support_command.ino's CommandHandler and the drivers' Cmnd* functions.

A command word is upper-cased, trailing digits become its index (1 when absent), the
data loses leading spaces, and the reply starts as {"Command":"Error"} so that a
handler which returns without answering reports exactly that, as the firmware does.
Unknown words answer {"Command":"Unknown"}. Replies carry the table's spelling of the
command ("TLSKey", "MqttHost"), not the caller's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import payloads
from .faults import DeviceFaults
from .rules import parse_rule_set
from .settings import (
    DEFAULT_FINGERPRINT1,
    DEFAULT_FINGERPRINT2,
    MAX_RULE_SETS,
    MAX_RULE_SIZE,
    MQTT_CLIENT_ID,
    MQTT_FULLTOPIC,
    MQTT_PASS,
    MQTT_RETRY_SECS,
    MQTT_USER,
    DeviceSettings,
)

MAX_STATUS = 13
MAX_RULE_TIMERS = 8
MAX_BACKLOG = 30
TLS_SLOT_BYTES = 1024  # the flash block that holds the directory, the key and the certificate
TLS_DIR_BYTES = 32  # four entries of 8 bytes
TLSKEY2_MIN_DER = 257  # the firmware refuses a certificate of 256 bytes or less
ERROR = {"Command": "Error"}


@dataclass(frozen=True)
class Reply:
    """One publication: stat/<topic>/<subtopic> with a JSON payload."""

    subtopic: str
    payload: str


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


@dataclass
class Call:
    """XdrvMailbox: one command as the handlers see it."""

    name: str  # the table spelling, e.g. "TLSKey"
    index: int
    user_index: bool
    data: str
    payload: int


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


def _shortcut(data: str) -> str | None:
    """Shortcut(): '"' or "0" clears, "1" means the firmware default, "2" the user default."""
    if data == '"':
        return "clear"
    if len(data) == 1 and data in "012":
        return {"0": "clear", "1": "default", "2": "user"}[data]
    return None


def _json(data: dict[str, Any]) -> str:
    return payloads.dumps(data)


class Commands:
    """The command table of one device."""

    def __init__(
        self, host: CommandHost, status_builder: Callable[[int], dict[str, Any] | None]
    ) -> None:
        self._host = host
        self._status = status_builder
        self._table: dict[
            str, tuple[str, Callable[[Call], list[Reply] | dict[str, Any] | None]]
        ] = {}
        for name, handler in (
            ("Backlog", self._backlog),
            ("Restart", self._restart),
            ("Status", self._status_cmd),
            ("SetOption", self._setoption),
            ("SO", self._setoption),
            ("MqttHost", self._mqtt_host),
            ("MqttPort", self._mqtt_port),
            ("MqttUser", self._mqtt_user),
            ("MqttPassword", self._mqtt_password),
            ("MqttClient", self._mqtt_client),
            ("Topic", self._topic),
            ("FullTopic", self._full_topic),
            ("Prefix", self._prefix),
            ("MqttRetry", self._mqtt_retry),
            ("MqttKeepAlive", self._mqtt_keepalive),
            ("MqttFingerprint", self._mqtt_fingerprint),
            ("TLSKey", self._tlskey),
            ("Rule", self._rule),
            ("RuleTimer", self._ruletimer),
            ("WebPassword", self._web_password),
            ("DeviceName", self._device_name),
            ("FriendlyName", self._friendly_name),
            ("Power", self._power),
            ("State", self._state),
            ("Publish", self._publish),
        ):
            self._table[name.upper()] = (name, handler)

    # -- dispatch ------------------------------------------------------------------------------

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
        state = state_number(data)
        number = state if state > -1 else (payload if payload is not None else -99)
        entry = self._table.get(word)
        if entry is None or (word == "TLSKEY" and self._host.faults.no_tlskey):
            return [Reply("RESULT", _json({"Command": "Unknown"}))]
        name, handler = entry
        result = handler(
            Call(name=name, index=index, user_index=bool(digits), data=data, payload=number)
        )
        if result is None:
            return [Reply("RESULT", _json(ERROR))]
        if isinstance(result, dict):
            return [Reply("RESULT", _json(result))]
        return result

    def execute_text(self, text: str) -> list[Reply]:
        """A whole command line, as typed in the console, sent to /cm or run by a rule."""
        word, rest = split_command(text)
        if not word:
            return []
        return self.execute(word, rest)

    # -- core commands -------------------------------------------------------------------------

    def _backlog(self, call: Call) -> list[Reply] | dict[str, Any]:
        if not call.data:
            was_empty = self._host.clear_backlog()
            return {call.name: "Empty" if was_empty else "Aborted"}
        commands: list[str] = []
        for piece in _split_backlog(call.data):
            item = piece.strip()
            while item.upper().startswith("BACKLOG"):
                item = item[len("BACKLOG") :].strip()
            if item and not item.upper().startswith("RESET") and len(commands) < MAX_BACKLOG:
                commands.append(item)
        self._host.queue_backlog(commands, nodelay=call.user_index and call.index == 0)
        return []  # ResponseClear(): nothing is published

    def _restart(self, call: Call) -> dict[str, Any]:
        if call.payload == 1:
            self._host.request_restart("Restart 1")
            return {call.name: "Restarting"}
        if call.payload == 99:
            self._host.request_restart("Restart 99")
            return {call.name: "Restarting"}
        return {call.name: "1 to restart"}

    def _status_cmd(self, call: Call) -> list[Reply] | None:
        payload = 0 if (call.user_index and call.index == 0) else call.payload
        if payload > MAX_STATUS or payload in (9, 12, 13):
            return None  # {"Command":"Error"}
        numbers = (
            [0, 1, 2, 3, 4, 5, 6, 7, 10, 11]
            if payload == 0
            else [0]
            if payload == -99
            else [payload]
        )
        blocks: list[tuple[int, dict[str, Any]]] = []
        for number in numbers:
            block = self._status(number)
            if block is not None:
                blocks.append((number, block))
        if not blocks:
            return None
        if call.user_index and call.index == 0:  # Status0: everything in one message
            merged: dict[str, Any] = {}
            for _, block in blocks:
                merged.update(block)
            return [Reply("STATUS0", _json(merged))]
        return [Reply(f"STATUS{number or ''}", _json(block)) for number, block in blocks]

    def _setoption(self, call: Call) -> dict[str, Any] | None:
        s = self._host.settings
        attr = {103: "setoption103", 132: "setoption132", 165: "setoption165"}.get(call.index)
        if attr is None:
            return None
        if call.data and call.payload in (0, 1):
            setattr(s, attr, call.payload)
            self._host.save_settings()
            if call.index == 103:  # SetOption103 is one of the options that restart
                self._host.request_restart(f"SetOption103 {call.payload}")
        return {f"{call.name}{call.index}": payloads.STATE_TEXTS[getattr(s, attr)]}

    # -- MQTT settings (xdrv_02_9_mqtt.ino) ----------------------------------------------------

    def _text_setting(
        self, call: Call, attr: str, default: str, *, restart: bool = True
    ) -> dict[str, Any]:
        s = self._host.settings
        if call.data:
            short = _shortcut(call.data)
            value = "" if short == "clear" else default if short == "default" else call.data
            setattr(s, attr, value)
            self._host.save_settings()
            if restart:
                self._host.request_restart(f"{call.name} changed")
        return {call.name: getattr(s, attr)}

    def _mqtt_host(self, call: Call) -> dict[str, Any]:
        return self._text_setting(call, "mqtt_host", "")

    def _mqtt_user(self, call: Call) -> dict[str, Any]:
        return self._text_setting(call, "mqtt_user", MQTT_USER)

    def _topic(self, call: Call) -> dict[str, Any]:
        """Topic: on a change the old LWT is cleared (retained, empty), then a restart."""
        s = self._host.settings
        if call.data:
            value = (
                f"tasmota_{s.mac[-6:]}"
                if _shortcut(call.data) == "default"
                else _valid_mqtt(call.data)
            )
            if value != s.topic:
                self._host.publish_soon(self._host.full_topic(2, "LWT"), "", retain=True)
                s.topic = value
                self._host.save_settings()
                self._host.request_restart("Topic changed")
        return {call.name: s.topic}

    def _full_topic(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if call.data:
            value = MQTT_FULLTOPIC if _shortcut(call.data) == "default" else call.data
            value = re.sub(r"[+# ]", "", value)
            if value != s.full_topic:
                self._host.publish_soon(self._host.full_topic(2, "LWT"), "", retain=True)
                s.full_topic = value
                self._host.save_settings()
                self._host.request_restart("FullTopic changed")
        return {call.name: s.full_topic}

    def _prefix(self, call: Call) -> dict[str, Any] | None:
        s = self._host.settings
        if not call.user_index:
            return {f"{call.name}{i + 1}": s.prefixes[i] for i in range(3)}
        if not 1 <= call.index <= 3:
            return None
        if call.data:
            default = ["cmnd", "stat", "tele"][call.index - 1]
            s.prefixes[call.index - 1] = (
                default if _shortcut(call.data) == "default" else _valid_mqtt(call.data)
            )
            self._host.save_settings()
            self._host.request_restart(f"Prefix{call.index} changed")
        return {f"{call.name}{call.index}": s.prefixes[call.index - 1]}

    def _mqtt_client(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if call.data:
            s.mqtt_client = MQTT_CLIENT_ID if _shortcut(call.data) == "default" else call.data
            self._host.save_settings()
            self._host.request_restart("MqttClient changed")
        return {call.name: s.mqtt_client}

    def _mqtt_password(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if not call.data:
            return {call.name: "****"}
        short = _shortcut(call.data)
        s.mqtt_password = "" if short == "clear" else MQTT_PASS if short == "default" else call.data
        self._host.save_settings()
        self._host.request_restart("MqttPassword changed")
        if call.user_index and call.index == 2:
            return {call.name: "****"}
        return {call.name: s.mqtt_password}

    def _mqtt_port(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if 0 < call.payload < 65536:
            s.mqtt_port = 1883 if call.payload == 1 else call.payload
            self._host.save_settings()
            self._host.request_restart("MqttPort changed")
        return {call.name: s.mqtt_port}

    def _mqtt_retry(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if MQTT_RETRY_SECS <= call.payload < 32001:
            s.mqtt_retry = call.payload
            self._host.save_settings()
        return {call.name: s.mqtt_retry}

    def _mqtt_keepalive(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if 1 <= call.payload <= 100:
            s.mqtt_keepalive = call.payload
            self._host.save_settings()
        return {call.name: s.mqtt_keepalive}

    def _mqtt_fingerprint(self, call: Call) -> dict[str, Any] | None:
        if not 1 <= call.index <= 2:
            return None
        s = self._host.settings
        attr = f"fingerprint{call.index}"
        if 0 < len(call.data) < 60:
            short = _shortcut(call.data)
            if short == "default":
                value = DEFAULT_FINGERPRINT1 if call.index == 1 else DEFAULT_FINGERPRINT2
            else:
                value = _parse_fingerprint("" if short == "clear" else call.data)
            setattr(s, attr, value)
            self._host.save_settings()
            self._host.request_restart(f"MqttFingerprint{call.index} changed")
        raw = bytes.fromhex(getattr(s, attr))
        return {f"{call.name}{call.index}": " ".join(f"{b:02X}" for b in raw)}

    # -- TLS credentials (CmndTlsKey) ----------------------------------------------------------

    def _tlskey(self, call: Call) -> dict[str, Any] | None:
        if not 1 <= call.index <= 2:
            return None
        s = self._host.settings
        if call.data:
            raw = _decode_base64_like_firmware(call.data)
            if call.index == 1:
                # Writing the key erases the whole block first, certificate included.
                s.tlskey1 = None
                s.tlskey2 = None
                if raw:
                    if len(raw) != 32:
                        self._host.log(f"TLSKey: Certificate must be 32 bytes: {len(raw)}.")
                        self._host.save_settings()
                        return None
                    s.tlskey1 = raw
            else:
                if s.tlskey1 is None:
                    self._host.log("TLSKey: cannot store Cert if no Key previously stored.")
                    return None
                if len(raw) < TLSKEY2_MIN_DER:
                    self._host.log(f"TLSKey: Certificate length too short: {len(raw)}.")
                    return None
                if TLS_DIR_BYTES + _align4(len(s.tlskey1)) + len(raw) > TLS_SLOT_BYTES:
                    # The firmware has no such check and would overrun its 1 KB slot.
                    self._host.log(f"TLSKey: Certificate does not fit the 1 KB slot: {len(raw)}.")
                    return None
                s.tlskey2 = raw
            self._host.save_settings()
        return {
            f"{call.name}1": len(s.tlskey1) if s.tlskey1 is not None else -1,
            f"{call.name}2": len(s.tlskey2)
            if s.tlskey2 is not None and s.tlskey1 is not None
            else -1,
        }

    # -- rules (xdrv_10_rules.ino) -------------------------------------------------------------

    def _rule(self, call: Call) -> list[Reply] | None:
        s = self._host.settings
        if call.user_index and call.index == 0:
            return [self._rule_report(number) for number in range(1, MAX_RULE_SETS + 1)]
        if not 1 <= call.index <= MAX_RULE_SETS:
            return None
        i = call.index - 1
        if call.data:
            if 0 <= call.payload <= 10:
                self._rule_flags(i, call.payload)
            else:
                text = call.data
                if text.startswith("+"):
                    text = s.rules[i] + " " + text[1:].lstrip()
                elif text.startswith('"'):
                    text = ""
                if len(text) >= MAX_RULE_SIZE:
                    self._host.log("RUL: Not enough space")
                else:
                    s.rules[i] = text
                    if text and not parse_rule_set(text):
                        self._host.log(
                            f"RUL: Rule{call.index} has no valid ON ... DO ... ENDON block"
                        )
            self._host.save_settings()
        return [self._rule_report(call.index, call.name)]

    def _rule_report(self, number: int, name: str = "Rule") -> Reply:
        s = self._host.settings
        i = number - 1
        text = s.rules[i]
        report = {
            "State": payloads.STATE_TEXTS[s.rule_enabled[i]],
            "Once": payloads.STATE_TEXTS[s.rule_once[i]],
            "StopOnError": payloads.STATE_TEXTS[s.rule_stop[i]],
            "Length": len(text),
            "Free": MAX_RULE_SIZE - len(text) - 1,
            "Rules": text,
        }
        return Reply("RESULT", _json({f"{name}{number}": report}))

    def _rule_flags(self, i: int, value: int) -> None:
        s = self._host.settings
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

    def _ruletimer(self, call: Call) -> dict[str, Any] | None:
        if call.index > MAX_RULE_TIMERS:
            return None
        if call.data:
            try:
                seconds = float(call.data.split()[0])
            except ValueError:
                seconds = 0.0
            targets = range(1, MAX_RULE_TIMERS + 1) if call.index == 0 else [call.index]
            for number in targets:
                self._host.set_rule_timer(number, max(seconds, 0.0))
        left = self._host.rule_timers_left()
        return {f"T{n + 1}": left[n] for n in range(MAX_RULE_TIMERS)}

    # -- small settings ------------------------------------------------------------------------

    def _web_password(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if call.data:
            s.web_password = "" if _shortcut(call.data) == "clear" else call.data
            self._host.save_settings()
        return {call.name: "****"}

    def _device_name(self, call: Call) -> dict[str, Any]:
        s = self._host.settings
        if call.data:
            s.device_name = "Tasmota" if _shortcut(call.data) else call.data
            self._host.save_settings()
        return {call.name: s.device_name}

    def _friendly_name(self, call: Call) -> dict[str, Any] | None:
        if call.index != 1:
            return None
        s = self._host.settings
        if call.data:
            s.friendly_name = "Tasmota" if _shortcut(call.data) else call.data
            self._host.save_settings()
        return {f"{call.name}{call.index}": s.friendly_name}

    def _power(self, call: Call) -> list[Reply] | None:
        """One relay; like MqttPublishPowerState: JSON on RESULT and plain text on POWER."""
        if call.index != 1:
            return None
        before = self._host.power
        if call.payload in (0, 1):
            self._host.power = call.payload
        elif call.payload == 2:
            self._host.power ^= 1
        if self._host.power != before:
            self._host.raise_event("Power1#State", str(self._host.power))
        state = payloads.STATE_TEXTS[self._host.power]
        return [Reply("RESULT", _json({"POWER": state})), Reply("POWER", state)]

    def _publish(self, call: Call) -> list[Reply] | None:
        """Publish <topic> <payload>; Publish2 retains. '#' in the topic stands for a space."""
        if not call.data:
            return None
        topic, _, payload = call.data.partition(" ")
        self._host.publish_soon(topic.replace("#", " "), payload, retain=call.index == 2)
        return []

    def _state(self, call: Call) -> dict[str, Any] | None:
        block = self._status(11)
        return block["StatusSTS"] if block else None


def _valid_mqtt(text: str) -> str:
    """MakeValidMqtt(0): '+', '#' and spaces become underscores."""
    return re.sub(r"[+# ]", "_", text)


def _split_backlog(data: str) -> list[str]:
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


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _parse_fingerprint(text: str) -> str:
    """Twenty strtol(p, &p, 16) calls: hex numbers separated by anything non-hex."""
    values: list[int] = []
    rest = text
    for _ in range(20):
        match = re.match(r"\s*([+-]?(?:0[xX])?[0-9a-fA-F]+)", rest)
        if match is None:
            values.append(0)
            continue
        values.append(int(match.group(1), 16) & 0xFF)
        rest = rest[match.end() :]
    return bytes(values).hex().upper()


def _decode_base64_like_firmware(data: str) -> bytes:
    """Spaces removed, then base64 decoded leniently (the firmware's decoder does not validate)."""
    text = re.sub(r"\s+", "", data)
    text = re.sub(r"[^A-Za-z0-9+/]", "", text.split("=", 1)[0])
    text = text[: len(text) - len(text) % 4 if len(text) % 4 == 1 else len(text)]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""
