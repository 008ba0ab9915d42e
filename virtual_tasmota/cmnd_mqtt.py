"""MQTT settings commands of xdrv_02_9_mqtt.ino: host, port, credentials, topics, fingerprints.

Each one that changes a connection parameter sets the restart flag, as the firmware does.
"""

from __future__ import annotations

import re
from typing import Any

from .command_base import Call, CommandHost, Handler, shortcut
from .settings import (
    DEFAULT_FINGERPRINT1,
    DEFAULT_FINGERPRINT2,
    MQTT_CLIENT_ID,
    MQTT_FULLTOPIC,
    MQTT_PASS,
    MQTT_RETRY_SECS,
    MQTT_USER,
)


def _text_setting(
    host: CommandHost, call: Call, attr: str, default: str, *, restart: bool = True
) -> dict[str, Any]:
    s = host.settings
    if call.data:
        short = shortcut(call.data)
        value = "" if short == "clear" else default if short == "default" else call.data
        setattr(s, attr, value)
        host.save_settings()
        if restart:
            host.request_restart(f"{call.name} changed")
    return {call.name: getattr(s, attr)}


def mqtt_host(host: CommandHost, call: Call) -> dict[str, Any]:
    return _text_setting(host, call, "mqtt_host", "")


def mqtt_user(host: CommandHost, call: Call) -> dict[str, Any]:
    return _text_setting(host, call, "mqtt_user", MQTT_USER)


def topic(host: CommandHost, call: Call) -> dict[str, Any]:
    """Topic: on a change the old LWT is cleared (retained, empty), then a restart."""
    s = host.settings
    if call.data:
        value = (
            f"tasmota_{s.mac[-6:]}" if shortcut(call.data) == "default" else _valid_mqtt(call.data)
        )
        if value != s.topic:
            host.publish_soon(host.full_topic(2, "LWT"), "", retain=True)
            s.topic = value
            host.save_settings()
            host.request_restart("Topic changed")
    return {call.name: s.topic}


def full_topic(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if call.data:
        value = MQTT_FULLTOPIC if shortcut(call.data) == "default" else call.data
        value = re.sub(r"[+# ]", "", value)
        if value != s.full_topic:
            host.publish_soon(host.full_topic(2, "LWT"), "", retain=True)
            s.full_topic = value
            host.save_settings()
            host.request_restart("FullTopic changed")
    return {call.name: s.full_topic}


def prefix(host: CommandHost, call: Call) -> dict[str, Any] | None:
    s = host.settings
    if not call.user_index:
        return {f"{call.name}{i + 1}": s.prefixes[i] for i in range(3)}
    if not 1 <= call.index <= 3:
        return None
    if call.data:
        default = ["cmnd", "stat", "tele"][call.index - 1]
        s.prefixes[call.index - 1] = (
            default if shortcut(call.data) == "default" else _valid_mqtt(call.data)
        )
        host.save_settings()
        host.request_restart(f"Prefix{call.index} changed")
    return {f"{call.name}{call.index}": s.prefixes[call.index - 1]}


def mqtt_client(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if call.data:
        s.mqtt_client = MQTT_CLIENT_ID if shortcut(call.data) == "default" else call.data
        host.save_settings()
        host.request_restart("MqttClient changed")
    return {call.name: s.mqtt_client}


def mqtt_password(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if not call.data:
        return {call.name: "****"}
    short = shortcut(call.data)
    s.mqtt_password = "" if short == "clear" else MQTT_PASS if short == "default" else call.data
    host.save_settings()
    host.request_restart("MqttPassword changed")
    if call.user_index and call.index == 2:
        return {call.name: "****"}
    return {call.name: s.mqtt_password}


def mqtt_port(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if 0 < call.payload < 65536:
        s.mqtt_port = 1883 if call.payload == 1 else call.payload
        host.save_settings()
        host.request_restart("MqttPort changed")
    return {call.name: s.mqtt_port}


def mqtt_retry(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if MQTT_RETRY_SECS <= call.payload < 32001:
        s.mqtt_retry = call.payload
        host.save_settings()
    return {call.name: s.mqtt_retry}


def mqtt_keepalive(host: CommandHost, call: Call) -> dict[str, Any]:
    s = host.settings
    if 1 <= call.payload <= 100:
        s.mqtt_keepalive = call.payload
        host.save_settings()
    return {call.name: s.mqtt_keepalive}


def mqtt_fingerprint(host: CommandHost, call: Call) -> dict[str, Any] | None:
    if not 1 <= call.index <= 2:
        return None
    s = host.settings
    attr = f"fingerprint{call.index}"
    if 0 < len(call.data) < 60:
        short = shortcut(call.data)
        if short == "default":
            value = DEFAULT_FINGERPRINT1 if call.index == 1 else DEFAULT_FINGERPRINT2
        else:
            value = parse_fingerprint("" if short == "clear" else call.data)
        setattr(s, attr, value)
        host.save_settings()
        host.request_restart(f"MqttFingerprint{call.index} changed")
    raw = bytes.fromhex(getattr(s, attr))
    return {f"{call.name}{call.index}": " ".join(f"{b:02X}" for b in raw)}


def _valid_mqtt(text: str) -> str:
    """MakeValidMqtt(0): '+', '#' and spaces become underscores."""
    return re.sub(r"[+# ]", "_", text)


def parse_fingerprint(text: str) -> str:
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


HANDLERS: dict[str, Handler] = {
    "MqttHost": mqtt_host,
    "MqttPort": mqtt_port,
    "MqttUser": mqtt_user,
    "MqttPassword": mqtt_password,
    "MqttClient": mqtt_client,
    "Topic": topic,
    "FullTopic": full_topic,
    "Prefix": prefix,
    "MqttRetry": mqtt_retry,
    "MqttKeepAlive": mqtt_keepalive,
    "MqttFingerprint": mqtt_fingerprint,
}
