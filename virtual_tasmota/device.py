"""One virtual Tasmota device: flash, boot and restart, commands from MQTT, HTTP and backlog.

The MQTT side lives in mqtt_link.py, running rules in rule_engine.py, a boot's RAM in boot.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .boot import Boot
from .changes import Changes
from .command_base import Reply, redact
from .commands import Commands
from .faults import DeviceFaults
from .firmware import FirmwareBuild
from .http import HttpServer
from .mqtt_link import MqttLink
from .payloads import status_block
from .rule_engine import RuleEngine
from .settings import DeviceSettings, load_settings, save_settings, stamp_settings
from .timing import Timing

LOGGER = logging.getLogger("virtual_tasmota")
_MAX_EVENTS = 2000


class VirtualDevice:
    """A Tasmota device as seen over MQTT and HTTP, living on its own loopback address."""

    def __init__(
        self,
        *,
        index: int,
        mac: str,
        ip: str,
        http_port: int,
        state_path: Path,
        broker_host: str,
        broker_port: int,
        firmware: str = "14.5.0",
        chip: str = "esp8266",
        tls_ecdsa: bool | None = None,
        trust_anchors_pem: bytes | None = None,
        timing: Timing | None = None,
        faults: DeviceFaults | None = None,
        web_password: str | None = None,
    ) -> None:
        self.index = index
        self.ip = ip
        self.http_port = http_port
        self.firmware = firmware
        self.chip = chip
        self.build = FirmwareBuild(firmware, chip, tls_ecdsa)  # USE_MQTT_TLS_ECDSA: firmware.py
        self.trust_anchors_pem = trust_anchors_pem
        self.timing = timing or Timing()
        self.faults = faults or DeviceFaults()
        self.state_path = state_path
        loaded = load_settings(state_path)
        new = loaded is None
        if loaded is None:
            loaded = DeviceSettings(
                mac=mac.upper(),
                topic=f"tasmota_{mac.upper()[-6:]}",
                mqtt_host=broker_host,
                mqtt_port=broker_port,
            )
        if web_password is not None and loaded.web_password != web_password:
            loaded.web_password = web_password
            new = True
        self.settings = loaded
        if new:
            save_settings(state_path, self.settings)
        self.mac = self.settings.mac
        self._active_topic = self.settings.topic
        self.events: list[str] = []
        self.power = 0
        self.boot_time = time.monotonic()
        self._changes = Changes()
        self._link = MqttLink(self, self._changes)
        self._boot = Boot(mqtt_tls=bool(self.settings.setoption103))
        self._rules = RuleEngine(self, self.timing.rule_timer_scale)
        self._commands = Commands(self)
        self._http = HttpServer(self, ip, http_port)
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._main: asyncio.Task[None] | None = None
        self._boot_tasks: list[asyncio.Task[Any]] = []
        self._random = random.Random(self.mac)

    # -- public surface ------------------------------------------------------------------------

    @property
    def topic(self) -> str:
        """The topic in use (TasmotaGlobal.mqtt_topic): a new Topic applies after a restart."""
        return self._active_topic

    @property
    def connected(self) -> bool:
        """Connected to the broker and subscribed."""
        return self._link.connected

    @property
    def tls_active(self) -> bool:
        """True while connected over TLS."""
        return self._link.tls_active

    @property
    def connect_count(self) -> int:
        return self._link.connect_count

    @property
    def discovery_published(self) -> bool:
        """Discovery config and sensors published since this boot."""
        return self._link.discovery_published

    @property
    def peer_fingerprint(self) -> str | None:
        """The broker fingerprint seen at the last TLS connection (fingerprint mode)."""
        return self._link.peer_fingerprint

    async def start(self) -> None:
        if self._main is None:
            self._main = asyncio.create_task(
                self._lifecycle(), name=f"virtual_tasmota {self.topic}"
            )

    async def stop(self, *, clean: bool = True) -> None:
        """Power off: Offline published and DISCONNECT sent (clean), or the connection just
        dropped so that the broker publishes the will (not clean). HTTP closed, no tasks left."""
        main, self._main = self._main, None
        if main is not None:
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await main
        await self._cancel_boot_tasks()
        await self._link.power_off(clean=clean)
        await self._end_boot()
        self._link.set_connected(False)

    async def power_cycle(self, off_for: float) -> None:
        """Lose power for off_for seconds (the broker publishes the will), then boot again."""
        await self.stop(clean=False)
        self.log(f"APP: Powered off for {off_for} s")
        self.faults.offline_for = off_for
        await self.start()

    async def wait_state(
        self,
        predicate: Callable[[VirtualDevice], bool],
        timeout: float,  # noqa: ASYNC109 - the API others use: wait_state(predicate, timeout)
    ) -> None:
        """Wait until predicate(device) holds; TimeoutError after timeout seconds."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await self._changes.wait()

    async def http_command(self, text: str) -> list[Reply]:
        """A command from the web API: runs like a console command, replies also go to MQTT."""
        await self._apply_reply_delay()
        self._log_command("HTTP", text)
        replies = self._commands.execute_text(text)
        await self._link.publish_replies(replies)
        return replies

    def execute(self, text: str) -> list[Reply]:
        """Run a console command synchronously and return its replies (nothing is published)."""
        return self._commands.execute_text(text)

    # -- things the commands call (CommandHost) ------------------------------------------------

    def save_settings(self) -> None:
        stamp_settings(self.settings, 0 if self.faults.no_time else int(time.time()))
        save_settings(self.state_path, self.settings)
        self._changes.notify()

    def request_restart(self, reason: str) -> None:
        if not self._boot.restart_pending:
            self.log(f"APP: Restart requested ({reason})")
        self._boot.request_restart()

    def queue_backlog(self, commands: list[str], *, nodelay: bool) -> None:
        self._boot.queue_backlog(commands, nodelay=nodelay)

    def clear_backlog(self) -> bool:
        return self._boot.clear_backlog()

    def set_rule_timer(self, index: int, seconds: float) -> None:
        self._rules.set_timer(index, seconds)

    def rule_timers_left(self) -> list[int]:
        return self._rules.timers_left()

    def log(self, message: str) -> None:
        line = f"{self.topic} | {message}"
        self.events.append(line)
        if len(self.events) > _MAX_EVENTS:
            del self.events[: len(self.events) - _MAX_EVENTS]
        LOGGER.info(line)
        self._changes.notify()

    def status_block(self, number: int) -> dict[str, Any] | None:
        return status_block(self, number)

    def publish_soon(self, topic: str, payload: str, *, retain: bool) -> None:
        self.keep_task(asyncio.create_task(self._link.publish(topic, payload, retain=retain)))

    def raise_event(self, event: str, value: str) -> None:
        self.keep_task(asyncio.create_task(self.fire_rules(event, value)))

    # -- things the MQTT side and the rules call (LinkHost, RuleHost) --------------------------

    @property
    def work_dir(self) -> Path:
        """Where the connection keeps its files (the TLS key as PEM for the ssl module)."""
        return self.state_path.parent / f".{self.mac}"

    def on_message(self, topic: str, payload: bytes) -> None:
        self._inbox.put_nowait((topic, payload))

    async def fire_rules(self, event: str, value: str | None = None) -> None:
        await self._rules.fire(event, value)

    async def run_commands(self, text: str) -> None:
        await self._link.publish_replies(self._commands.execute_text(text))

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Track a task of this boot so that a restart or stop cancels it."""
        self._boot_tasks = [t for t in self._boot_tasks if not t.done()]
        self._boot_tasks.append(task)

    # -- topics --------------------------------------------------------------------------------

    def full_topic(self, prefix: int, subtopic: str) -> str:
        """GetTopic_P: FullTopic with %prefix%, %topic%, %hostname% and %id% filled in."""
        s = self.settings
        text = s.full_topic
        text = text.replace("%prefix%", s.prefixes[prefix]).replace("%topic%", self.topic)
        text = text.replace("%hostname%", self.hostname).replace("%id%", self.mac[-6:])
        if not text.endswith("/"):
            text += "/"
        return (text + subtopic).replace("//", "/")

    @property
    def hostname(self) -> str:
        """WIFI_HOSTNAME "%s-%04d": the topic with '_' as '-', and the chip id's low 13 bits."""
        return f"{self.topic.replace('_', '-')}-{int(self.mac[-6:], 16) & 0x1FFF:04d}"

    @property
    def lwt_topic(self) -> str:
        return self.full_topic(2, "LWT")

    # -- life cycle ----------------------------------------------------------------------------

    async def _lifecycle(self) -> None:
        offline_for = self.faults.offline_for
        if offline_for:
            self.log(f"APP: Staying offline for {offline_for} s")
            await asyncio.sleep(offline_for)
            self.faults.offline_for = None
        while True:
            await self._power_on()
            await self._boot.restart_event.wait()
            self.log("APP: Restarting")
            await self._link.disconnect_for_restart()
            await self._end_boot()
            self._link.set_connected(False)

    async def _power_on(self) -> None:
        self._boot = Boot(mqtt_tls=bool(self.settings.setoption103))
        self._rules = RuleEngine(self, self.timing.rule_timer_scale)
        self._active_topic = self.settings.topic
        self.boot_time = time.monotonic()
        self._link.discovery_published = False
        await asyncio.sleep(self.timing.boot_delay)
        self.settings.boot_count += 1
        self.save_settings()
        self.log(
            f"APP: Boot Count {self.settings.boot_count}, firmware {self.firmware} ({self.chip})"
        )
        try:
            await self._http.start()
        except OSError as err:
            self.log(f"HTP: Cannot serve http://{self.ip}:{self.http_port}/ ({err}); no web API")
            LOGGER.warning("%s | HTTP server not started: %s", self.topic, err)
        self._boot_tasks = [
            asyncio.create_task(self._link.run(self._boot)),
            asyncio.create_task(self._boot.run_backlog(self._run_backlog_command, self.timing)),
            asyncio.create_task(self._command_worker()),
            asyncio.create_task(self._link.telemetry()),
        ]
        await self.fire_rules("System#Init")

    async def _cancel_boot_tasks(self) -> None:
        tasks, self._boot_tasks = self._boot_tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _end_boot(self) -> None:
        await self._cancel_boot_tasks()
        await self._link.abort()
        self._inbox = asyncio.Queue()
        await self._http.stop()

    # -- commands ------------------------------------------------------------------------------

    async def _command_worker(self) -> None:
        while True:
            topic, payload = await self._inbox.get()
            if (
                self.faults.drop_command_fraction
                and self._random.random() < self.faults.drop_command_fraction
            ):
                self.log(f"CMD: dropped {topic.rsplit('/', 1)[-1]} (fault)")
                continue
            await self._apply_reply_delay()
            word = topic.rsplit("/", 1)[-1]
            data = payload.decode(errors="replace")
            self._log_command("MQTT", f"{word} {data}")
            await self._link.publish_replies(self._commands.execute(word, data))

    async def _run_backlog_command(self, command: str) -> None:
        self._log_command("Backlog", command)
        await self.run_commands(command)

    async def _apply_reply_delay(self) -> None:
        if self.faults.reply_delay:
            await asyncio.sleep(self.faults.reply_delay)

    def _log_command(self, source: str, text: str) -> None:
        self.log(f"CMD: {source} {redact(text)}")
