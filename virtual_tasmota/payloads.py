"""JSON payloads in the firmware's shapes: discovery, Status blocks and INFO messages.

Field names and their order follow xdrv_12_discovery.ino and support_command.ino, so
that parsers written against real devices (hatasmota, Home Assistant) accept them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from .firmware import MQTT_MAX_PACKET_SIZE, version_tuple
from .settings import DeviceSettings

MAX_FRIENDLYNAMES = 8
MAX_RELAYS_SET = 32
MAX_SWITCHES_SET = 28
MAX_KEYS_SET = 32
MAX_SWITCHES_TXT = 8
MQTT_LWT_ONLINE = "Online"
MQTT_LWT_OFFLINE = "Offline"
STATE_TEXTS = ["OFF", "ON", "TOGGLE", "HOLD"]


class DeviceView(Protocol):
    """What the payload builders read from a device."""

    settings: DeviceSettings
    firmware: str
    chip: str
    ip: str
    mac: str
    power: int
    boot_time: float

    @property
    def connect_count(self) -> int: ...

    @property
    def hostname(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def tls_active(self) -> bool: ...


def dumps(data: Any) -> str:
    """Compact JSON like the firmware's Response_P output."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def image_name(device: DeviceView) -> str:
    return "tasmota32" if device.chip == "esp32" else "tasmota"


def version_string(device: DeviceView) -> str:
    return f"{device.firmware}({image_name(device)})"


def mac_colons(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def uptime_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days}T{time.strftime('%H:%M:%S', time.gmtime(rest))}"


def discovery_config(device: DeviceView) -> dict[str, Any]:
    s = device.settings
    return {
        "ip": device.ip,
        "dn": s.device_name,
        "fn": [s.friendly_name] + [None] * (MAX_FRIENDLYNAMES - 1),
        "hn": device.hostname,
        "mac": device.mac,
        "md": "Sonoff Basic" if device.chip == "esp8266" else "ESP32-DevKit",
        "ty": 0,
        "if": 0,
        "ofln": MQTT_LWT_OFFLINE,
        "onln": MQTT_LWT_ONLINE,
        "state": STATE_TEXTS,
        "sw": device.firmware,
        "t": device.topic,
        "ft": s.full_topic,
        "tp": list(s.prefixes),
        "rl": [1] + [0] * (MAX_RELAYS_SET - 1),
        "swc": [-1] * MAX_SWITCHES_SET,
        "swn": [None] * MAX_SWITCHES_SET,
        "btn": [0] * MAX_KEYS_SET,
        "so": {
            "4": 0,
            "11": 0,
            "13": 0,
            "17": 0,
            "20": 0,
            "30": 0,
            "68": 0,
            "73": 0,
            "82": 0,
            "114": 0,
            "117": 0,
        },
        "lk": 0,
        "lt_st": 0,
        "bat": 0,
        "dslp": 0,
        "sho": [],
        "sht": [],
        "ver": 1,
    }


def discovery_sensors() -> dict[str, Any]:
    return {"sn": {"Time": _now_text()}, "ver": 1}


def info_messages(device: DeviceView) -> list[tuple[str, dict[str, Any]]]:
    """tele/<topic>/INFO1..3, published once after the first connection of a boot."""
    return [
        (
            "INFO1",
            {
                "Info1": {
                    "Module": discovery_config(device)["md"],
                    "Version": version_string(device),
                    "FallbackTopic": f"cmnd/DVES_{device.mac[-6:]}_fb/",
                    "GroupTopic": "cmnd/tasmotas/",
                }
            },
        ),
        (
            "INFO2",
            {
                "Info2": {
                    "WebServerMode": "Admin",
                    "Hostname": device.hostname,
                    "IPAddress": device.ip,
                }
            },
        ),
        (
            "INFO3",
            {
                "Info3": {
                    "RestartReason": "Software/System restart",
                    "BootCount": device.settings.boot_count,
                }
            },
        ),
    ]


def status_block(device: DeviceView, number: int) -> dict[str, Any] | None:
    """The Status <number> object; None where the firmware has no such block."""
    s = device.settings
    uptime = int(time.monotonic() - device.boot_time)
    esp32 = device.chip == "esp32"
    if number == 0:
        return {
            "Status": {
                "Module": 1,
                "DeviceName": s.device_name,
                "FriendlyName": [s.friendly_name],
                "Topic": device.topic,
                "ButtonTopic": "0",
                "Power": device.power,
                "PowerOnState": 3,
                "LedState": 1,
                "LedMask": "FFFF",
                "SaveData": 1,
                "SaveState": 1,
                "SwitchTopic": "0",
                "SwitchMode": [0] * MAX_SWITCHES_TXT,
                "ButtonRetain": 0,
                "SwitchRetain": 0,
                "SensorRetain": 0,
                "PowerRetain": 0,
                "InfoRetain": 0,
                "StateRetain": 0,
            }
        }
    if number == 1:
        return {
            "StatusPRM": {
                "Baudrate": 115200,
                "SerialConfig": "8N1",
                "GroupTopic": "tasmotas",
                "OtaUrl": f"http://ota.tasmota.com/{image_name(device)}/release/{image_name(device)}.bin.gz",
                "RestartReason": "Software/System restart",
                "Uptime": uptime_text(uptime),
                "StartupUTC": datetime.fromtimestamp(time.time() - uptime, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S"
                ),
                "Sleep": 50,
                "CfgHolder": 4617,
                "BootCount": s.boot_count,
                "BCResetTime": "2024-01-01T00:00:00",
                "SaveCount": s.boot_count,
            }
        }
    if number == 2:
        return {
            "StatusFWR": {
                "Version": version_string(device),
                "BuildDateTime": "2025-06-01T12:00:00",
                "Core": "3_1_3" if esp32 else "2_7_8",
                "SDK": "5.3.3" if esp32 else "2.2.2-dev(38a443e)",
                "CpuFrequency": 160 if esp32 else 80,
                "Hardware": "ESP32-D0WD-V3 v3.1" if esp32 else "ESP8266EX",
            }
        }
    if number == 3:
        return {
            "StatusLOG": {
                "SerialLog": 2,
                "WebLog": 2,
                "MqttLog": 0,
                "SysLog": 0,
                "LogHost": "",
                "LogPort": 514,
                "SSId": ["virtual", ""],
                "TelePeriod": 300,
            }
        }
    if number == 4:
        return {
            "StatusMEM": {
                "ProgramSize": 640,
                "Free": 360,
                "Heap": 25,
                "FlashSize": 4096,
                "FlashMode": "DOUT",
            }
        }
    if number == 5:
        return {
            "StatusNET": {
                "Hostname": device.hostname,
                "IPAddress": device.ip,
                "Gateway": "127.0.0.1",
                "Subnetmask": "255.0.0.0",
                "DNSServer1": "127.0.0.1",
                "DNSServer2": "0.0.0.0",
                "Mac": mac_colons(device.mac),
                "Webserver": 2,
                "HTTP_API": 1,
                "WifiConfig": 4,
                "WifiPower": 17.0,
            }
        }
    if number == 6:
        return {"StatusMQT": status_mqt(device)}
    if number == 7:
        now = _now_text()
        return {
            "StatusTIM": {
                "UTC": now,
                "Local": now,
                "StartDST": "",
                "EndDST": "",
                "Timezone": "+00:00",
            }
        }
    if number in (8, 10):
        return {"StatusSNS": {"Time": _now_text()}}
    if number == 11:
        return {
            "StatusSTS": {
                "Time": _now_text(),
                "Uptime": uptime_text(uptime),
                "UptimeSec": uptime,
                "Heap": 25,
                "SleepMode": "Dynamic",
                "Sleep": 50,
                "LoadAvg": 19,
                "MqttCount": device.connect_count,
                "POWER": STATE_TEXTS[device.power],
                "Wifi": {
                    "AP": 1,
                    "SSId": "virtual",
                    "Channel": 1,
                    "Mode": "11n",
                    "RSSI": 100,
                    "Signal": -40,
                },
            }
        }
    return None


def status_mqt(device: DeviceView) -> dict[str, Any]:
    s = device.settings
    block: dict[str, Any] = {
        "MqttHost": s.mqtt_host,
        "MqttPort": s.mqtt_port,
        "MqttClientMask": s.mqtt_client,
        "MqttClient": s.mqtt_client_id,
        "MqttUser": s.mqtt_user,
        "MqttCount": device.connect_count,
    }
    if version_tuple(device.firmware) >= (14, 5, 0):
        block["MqttTLS"] = 1 if device.tls_active else 0  # reported since early 2025
    block.update(
        {
            "MAX_PACKET_SIZE": MQTT_MAX_PACKET_SIZE,
            "KEEPALIVE": s.mqtt_keepalive,
            "SOCKET_TIMEOUT": 4,
        }
    )
    return block
