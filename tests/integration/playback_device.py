"""A Tasmota device on the mocked MQTT bus, answering with the simulator's command model.

Commands are executed by virtual_tasmota's command table (the firmware's replies,
TLSKey storage, rules, Backlog, SetOption103's restart); this class only connects it
to Home Assistant's mocked MQTT client and plays the restart: the LWT goes Offline,
and the device comes back Online over TLS when its settings would let it connect to
the broker the test describes (host, port, key, certificate and broker fingerprint).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from virtual_tasmota import payloads
from virtual_tasmota.command_base import Reply
from virtual_tasmota.commands import Commands
from virtual_tasmota.faults import DeviceFaults
from virtual_tasmota.settings import DeviceSettings

from .mqtt_bus import MqttBus

RESTART_DELAY = 0.05  # seconds between the reply and the restart


@dataclass
class BrokerView:
    """What the device would find on the network."""

    plain_host: str
    plain_port: int
    tls_host: str
    tls_port: int
    fingerprint: str  # MqttFingerprint format, "AA BB .."
    tls_up: bool = True


class PlaybackDevice:
    """Implements virtual_tasmota's CommandHost and DeviceView on the mocked bus."""

    firmware = "14.5.0"
    chip = "esp8266"

    def __init__(self, bus: MqttBus, broker: BrokerView, *, mac: str, ip: str = "127.0.0.2"):
        """A device on the plain listener with Tasmota's defaults and discovery enabled."""
        self.bus = bus
        self.broker = broker
        self.mac = mac
        self.ip = ip
        self.settings = DeviceSettings(
            mac=mac,
            topic=f"tasmota_{mac[-6:]}",
            mqtt_host=broker.plain_host,
            mqtt_port=broker.plain_port,
        )
        self.hostname = f"tasmota-{mac[-6:].lower()}"
        self.faults = DeviceFaults()
        self.power = 0
        self.boot_time = time.monotonic()
        self.connect_count = 1
        self.connected = True
        self._tls = False
        self.rule_timers: dict[int, float] = {}
        self.log_lines: list[str] = []
        self.commands_seen: list[str] = []
        self._backlog: list[str] = []
        self._restart = False
        self._commands = Commands(self)
        bus.responders.append(self._on_publish)

    # -- DeviceView -------------------------------------------------------------------

    @property
    def topic(self) -> str:
        return self.settings.topic

    @property
    def tls_active(self) -> bool:
        return self.connected and self._tls

    # -- CommandHost --------------------------------------------------------------------

    def save_settings(self) -> None:
        """Settings live in memory."""

    def request_restart(self, reason: str) -> None:
        self._restart = True

    def queue_backlog(self, commands: list[str], *, nodelay: bool) -> None:
        self._backlog.extend(commands)

    def clear_backlog(self) -> bool:
        was_empty = not self._backlog
        self._backlog.clear()
        return was_empty

    def set_rule_timer(self, index: int, seconds: float) -> None:
        self.rule_timers[index] = seconds

    def rule_timers_left(self) -> list[int]:
        return [int(self.rule_timers.get(i, 0)) for i in range(1, 9)]

    def log(self, message: str) -> None:
        self.log_lines.append(message)

    def publish_soon(self, topic: str, payload: str, *, retain: bool) -> None:
        if retain:
            self.bus.retain(topic, payload)
        else:
            self.bus.hass.loop.call_soon(
                async_fire_mqtt_message, self.bus.hass, topic, payload, 0, False
            )

    def full_topic(self, prefix: int, subtopic: str) -> str:
        """Tasmota's GetTopic_P for this device's settings."""
        s = self.settings
        text = s.full_topic
        if prefix == 0 and "%prefix%" not in text:
            text += "/%prefix%"
        text = text.replace("%prefix%", s.prefixes[prefix]).replace("%topic%", s.topic)
        text = text.replace("%hostname%", self.hostname).replace("%id%", self.mac)
        text = text.replace("#", "").replace("//", "/")
        return (text if text.endswith("/") else text + "/") + subtopic

    def status_block(self, number: int) -> dict[str, Any] | None:
        return payloads.status_block(self, number)

    def raise_event(self, event: str, value: str) -> None:
        """Rules are not evaluated here (the engine's rollback is tested on the simulator)."""
        self.log_lines.append(f"event {event}={value}")

    # -- the bus ---------------------------------------------------------------------------

    @property
    def command_prefix(self) -> str:
        return f"cmnd/{self.settings.topic}/"

    def announce(self) -> None:
        """Publish the retained discovery config and LWT, as at boot."""
        config = payloads.discovery_config(self)
        self.bus.retain(f"tasmota/discovery/{self.mac}/config", json.dumps(config))
        self.bus.retain(f"tele/{self.settings.topic}/LWT", "Online")

    def _on_publish(self, topic: str, payload: str) -> list[tuple[str, str]] | None:
        if not self.connected or not topic.startswith(self.command_prefix):
            return None
        word = topic[len(self.command_prefix) :]
        self.commands_seen.append(word)
        replies = self._run(word, payload)
        while self._backlog:
            replies += self._run_text(self._backlog.pop(0))
        out = [(f"stat/{self.settings.topic}/{r.subtopic}", r.payload) for r in replies]
        if self._restart:
            # Tasmota answers first and restarts a moment later.
            self._restart = False
            self.bus.hass.loop.call_later(RESTART_DELAY, self._reboot)
        return out

    def _run(self, word: str, payload: str) -> list[Reply]:
        return self._commands.execute(word, payload)

    def _run_text(self, text: str) -> list[Reply]:
        return self._commands.execute_text(text)

    def _reboot(self) -> None:
        """Restart: DISCONNECT (so no will), then the device tries to reconnect.

        As EspRestart does, the retained LWT stays "Online" until a reconnect
        publishes a live "Online" again.
        """
        self.connected = False
        self.boot_time = time.monotonic()
        if self._can_connect():
            self.connected = True
            self.connect_count += 1
            self._tls = bool(self.settings.setoption103)
            self.rule_timers.clear()  # Mqtt#Connected stops the rollback timer
            self.bus.retain(f"tele/{self.settings.topic}/LWT", "Online")

    def _can_connect(self) -> bool:
        s, broker = self.settings, self.broker
        if not s.setoption103:
            return (s.mqtt_host, s.mqtt_port) == (broker.plain_host, broker.plain_port)
        if not broker.tls_up or (s.mqtt_host, s.mqtt_port) != (broker.tls_host, broker.tls_port):
            return False
        if s.tlskey1 is None or s.tlskey2 is None:
            return False
        if s.setoption132:
            pinned = {s.fingerprint1.upper(), s.fingerprint2.upper()}
            return broker.fingerprint.replace(" ", "").upper() in pinned
        return True


def answer_status6(bus: MqttBus, topic: str, status: dict[str, Any]) -> Callable[[], None]:
    """A minimal device that only answers ``Status 6`` (for status tests)."""

    def responder(cmnd_topic: str, payload: str) -> list[tuple[str, str]] | None:
        if cmnd_topic == f"cmnd/{topic}/Status" and payload.strip() == "6":
            return [(f"stat/{topic}/STATUS6", json.dumps({"StatusMQT": status}))]
        return None

    bus.responders.append(responder)
    return lambda: bus.responders.remove(responder)
