"""A scripted Tasmota for engine unit tests: one device and a pretend broker in memory.

It answers the commands the engine uses with the firmware's exact reply shapes
(support_command.ino, xdrv_10_rules.ino, xdrv_02_9_mqtt.ino), runs Backlog and
rules (System#Init, Mqtt#Connected, Rules#Timer=<n>), restarts after MqttHost /
MqttPort / SetOption103 / MqttFingerprint changes once the Backlog is empty, and
implements the Transport protocol itself. Seconds of rule timers are scaled so
tests run fast. The real-broker tests use virtual_tasmota instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import topic_matches_sub

from custom_components.tasmota_tls.enrolment.transport import (
    MqttMessage,
    TransportError,
    parse_cm_reply,
)

UNKNOWN = {"Command": "Unknown"}
ERROR = {"Command": "Error"}
_RULE = re.compile(r"ON\s+(\S+)\s+DO\s+(.*?)\s+ENDON", re.IGNORECASE)


@dataclass
class Rule:
    text: str = ""
    enabled: bool = False
    once: bool = False
    stop: bool = False


@dataclass
class FakeTasmota:
    topic: str = "plug"
    ip: str = "127.0.0.2"
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    so103: bool = False
    so132: bool = False
    fingerprint1: str = "00 " * 19 + "00"
    tlskey: bool = True  # built with USE_MQTT_CLIENT_CERT
    has_mqtt_tls_field: bool = True
    web_password: str | None = None
    time_scale: float = 0.01  # rule timer seconds -> real seconds
    boot_delay: float = 0.02
    cert_cap: int | None = None  # store at most this many DER bytes (fault)
    # Which (host, port, tls) the pretend broker accepts.
    accepts: Callable[[str, int, bool], bool] = lambda host, port, tls: True
    rules: list[Rule] = field(default_factory=lambda: [Rule(), Rule(), Rule()])
    key_len: int = -1
    cert_len: int = -1
    connected: bool = True
    tls_active: bool = False
    restarts: int = 0
    http_commands: list[str] = field(default_factory=list)
    mqtt_commands: list[str] = field(default_factory=list)
    published: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listeners: list[tuple[str, asyncio.Queue[MqttMessage]]] = []
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._restart_pending = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.tls_active = self.connected and self.so103

    # ------------------------------------------------------------- Transport

    async def http_command(
        self,
        ip: str,
        port: int,
        command: str,
        password: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        if ip != self.ip:
            raise TransportError("unreachable", f"device {ip}:{port} is unreachable over HTTP")
        return parse_cm_reply(200, json.dumps(self._http(command, password)), ip)

    def _http(self, command: str, password: str | None) -> dict[str, Any]:
        if self.web_password is not None and password != self.web_password:
            return {"WARNING": "Need user=<username>&password=<password>"}
        self.http_commands.append(command)
        if command.lower().startswith("backlog "):
            self._backlog(command[8:])
            return {"WARNING": "Enable weblog 2 if response expected"}
        return self._execute(command)

    async def publish(self, topic: str, payload: str) -> None:
        self.published.append((topic, payload))
        prefix = f"cmnd/{self.topic}/"
        if not self.connected or not topic.startswith(prefix):
            return
        word = topic[len(prefix) :]
        command = f"{word} {payload}".strip()
        self.mqtt_commands.append(command)
        if word.lower() == "backlog":
            self._backlog(payload)
            return
        reply = self._execute(command)
        suffix = "STATUS6" if "StatusMQT" in reply else "RESULT"
        self._emit(f"stat/{self.topic}/{suffix}", reply)

    @contextlib.asynccontextmanager
    async def listen(self, topic_filter: str) -> AsyncIterator[asyncio.Queue[MqttMessage]]:
        queue: asyncio.Queue[MqttMessage] = asyncio.Queue()
        entry = (topic_filter, queue)
        self._listeners.append(entry)
        lwt = f"tele/{self.topic}/LWT"
        if topic_matches_sub(topic_filter, lwt):  # the retained LWT replays on subscribe
            queue.put_nowait(MqttMessage(lwt, "Online" if self.connected else "Offline", True))
        try:
            yield queue
        finally:
            self._listeners.remove(entry)

    # ----------------------------------------------------------- the device

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _emit(self, topic: str, reply: dict[str, Any] | str) -> None:
        payload = reply if isinstance(reply, str) else json.dumps(reply, separators=(",", ":"))
        for topic_filter, queue in self._listeners:
            if topic_matches_sub(topic_filter, topic):
                queue.put_nowait(MqttMessage(topic, payload, False))

    def _backlog(self, data: str) -> None:
        for part in data.split(";"):
            if part.strip():
                self._execute(part.strip())
        if self._restart_pending:
            self._restart_pending = False
            self._spawn(self._restart())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self) -> None:
        self.restarts += 1
        if self.connected:
            self.connected = self.tls_active = False
            self._emit(f"tele/{self.topic}/LWT", "Offline")
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await asyncio.sleep(self.boot_delay)
        self._event("System#Init")
        await asyncio.sleep(self.boot_delay)
        if self.accepts(self.mqtt_host, self.mqtt_port, self.so103):
            self.connected = True
            self.tls_active = self.so103
            self._emit(f"tele/{self.topic}/LWT", "Online")
            self._event("Mqtt#Connected")

    def _event(self, trigger: str) -> None:
        for rule in self.rules:
            if not rule.enabled:
                continue
            for on, action in _RULE.findall(rule.text):
                if on.lower() == trigger.lower():
                    if action.lower().startswith("backlog "):
                        self._backlog(action[8:])
                    else:
                        self._execute(action)

    def _request_restart(self) -> None:
        self._restart_pending = True

    def _execute(self, command: str) -> dict[str, Any]:
        word, _, data = command.strip().partition(" ")
        data = data.strip()
        match = re.fullmatch(r"([A-Za-z]+?)(\d*)", word)
        if not match:
            return UNKNOWN
        name, index = match.group(1).lower(), int(match.group(2) or 0)
        if name == "tlskey":
            return self._tls_key(index, data)
        if name == "status" and data == "6":
            mqt: dict[str, Any] = {
                "MqttHost": self.mqtt_host,
                "MqttPort": self.mqtt_port,
                "MqttClient": "DVES_ABCDEF",
                "MqttCount": 1,
            }
            if self.has_mqtt_tls_field:
                mqt["MqttTLS"] = int(self.tls_active)
            return {"StatusMQT": mqt}
        if name == "setoption" and index in (103, 132):
            attr = f"so{index}"
            if data:
                value = data.upper() in ("1", "ON")
                if index == 103 and value != getattr(self, attr):
                    self._request_restart()
                setattr(self, attr, value)
            return {f"SetOption{index}": "ON" if getattr(self, attr) else "OFF"}
        if name == "mqtthost":
            if data:
                self.mqtt_host = data
                self._request_restart()
            return {"MqttHost": self.mqtt_host}
        if name == "mqttport":
            if data:
                self.mqtt_port = int(data)
                self._request_restart()
            return {"MqttPort": self.mqtt_port}
        if name == "mqttfingerprint" and index in (1, 2):
            if data and index == 1:
                self.fingerprint1 = data.upper()
            if data:
                self._request_restart()
            return {f"MqttFingerprint{index}": self.fingerprint1}
        if name == "rule" and 1 <= index <= 3:
            return self._rule(index, data)
        if name == "ruletimer" and 1 <= index <= 8:
            if data:
                seconds = float(data)
                if index in self._timers:
                    self._timers.pop(index).cancel()
                if seconds > 0:
                    loop = asyncio.get_running_loop()
                    self._timers[index] = loop.call_later(
                        seconds * self.time_scale, self._event, f"Rules#Timer={index}"
                    )
            return {f"T{i}": 0 for i in range(1, 9)}
        if name == "restart" and data == "1":
            self._spawn(self._restart())
            return {"Restart": "Restarting"}
        return UNKNOWN

    def _tls_key(self, index: int, data: str) -> dict[str, Any]:
        if not self.tlskey:
            return UNKNOWN
        if index in {1, 2}:
            try:
                raw = base64.b64decode(data, validate=True)
            except ValueError:
                return ERROR
            if index == 1:
                if len(raw) != 32:
                    return ERROR
                self.key_len = 32
            else:
                if len(raw) <= 256 or self.key_len != 32:
                    return ERROR
                self.cert_len = min(len(raw), self.cert_cap or len(raw))
        elif index == 0 and data == "0":
            self.key_len = self.cert_len = -1
        return {"TLSKey1": self.key_len, "TLSKey2": self.cert_len}

    def _rule(self, index: int, data: str) -> dict[str, Any]:
        rule = self.rules[index - 1]
        if data:
            if data.isdigit() and int(data) <= 10:
                value = int(data)
                if value in (0, 1):
                    rule.enabled = bool(value)
                elif value in (4, 5):
                    rule.once = bool(value & 1)
                elif value in (8, 9):
                    rule.stop = bool(value & 1)
            elif data.startswith('"'):
                rule.text = ""
            elif data.startswith("+"):
                rule.text = f"{rule.text} {data[1:].strip()}".strip()
            else:
                rule.text = data
        return {
            f"Rule{index}": {
                "State": "ON" if rule.enabled else "OFF",
                "Once": "ON" if rule.once else "OFF",
                "StopOnError": "ON" if rule.stop else "OFF",
                "Length": len(rule.text),
                "Free": 511 - len(rule.text),
                "Rules": rule.text,
            }
        }
