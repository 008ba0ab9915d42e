"""One virtual Tasmota device: boot, MQTT with the firmware's retry rhythm, commands, rules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import firmware, payloads
from .command_base import redact
from .commands import MAX_RULE_TIMERS, Commands, Reply
from .connection import MQTT_DNS_DISCONNECTED, Connector
from .faults import DeviceFaults
from .firmware import FirmwareBuild
from .http import HttpServer
from .mqtt import MqttClient, MqttConnectError, Will
from .rules import parse_rule_set, split_trigger, substitute, trigger_matches
from .settings import DeviceSettings, load_settings, save_settings, stamp_settings

LOGGER = logging.getLogger("virtual_tasmota")
_MAX_EVENTS = 2000


@dataclass(frozen=True)
class Timing:
    """How long things take, in real seconds; the firmware's values are the defaults.

    retry_delay is what MqttRetry's default of 10 s lasts: the wait after the n-th failed
    attempt is retry_delay * MqttRetry/10 * n, growing while MqttRetry * n < 120, as
    MqttDisconnected() does. rule_timer_scale multiplies RuleTimer seconds, so that a
    300 s rollback timer can run in a test in a fraction of a second.
    """

    boot_delay: float = firmware.BOOT_TO_MQTT_SECONDS  # power on to the first MQTT attempt
    retry_delay: float = 10.0
    backlog_delay: float = firmware.BACKLOG_DELAY_SECONDS  # SetOption34
    # restart_flag counting down once the backlog is empty, then WifiShutdown()
    restart_delay: float = firmware.RESTART_FLAG_SECONDS + firmware.SHUTDOWN_SECONDS
    tls_handshake: float = firmware.TLS_HANDSHAKE_SECONDS  # BearSSL's arithmetic on the chip
    rule_timer_scale: float = 1.0
    discovery_delay: float = 0.0  # the firmware waits 10 s after boot, 1 s after a reconnect
    tele_period: float = 300.0  # TelePeriod: tele/<topic>/STATE, the first 5 s after connecting
    connect_timeout: float = 5.0


# The knob for tests: restarts in tens of milliseconds, so the suite does not wait for firmware.
FAST_TIMING = Timing(boot_delay=0.05, backlog_delay=0.01, restart_delay=0.05, tls_handshake=0.0)


@dataclass
class _Boot:
    """What lives in RAM and is lost at each restart."""

    mqtt_tls: bool  # SetOption103 as read at boot (Mqtt.mqtt_tls)
    initial: bool = True  # no connection yet since boot (Mqtt.initial_connection_state)
    retry_counter_delay: int = 1
    restart_pending: bool = False
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)  # restart_flag set
    restart_event: asyncio.Event = field(default_factory=asyncio.Event)  # restart_flag ran out
    backlog: deque[tuple[str, bool]] = field(default_factory=deque)
    backlog_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    rule_timers: dict[int, tuple[float, asyncio.Task[None]]] = field(default_factory=dict)
    once_fired: set[tuple[int, int, str]] = field(default_factory=set)  # Rules.triggers


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
        self.connected = False
        self.connect_count = 0
        self.power = 0
        self.boot_time = time.monotonic()
        self.discovery_published = False
        self.peer_fingerprint: str | None = None
        self._tls_active = False
        self._client: MqttClient | None = None
        self._boot = _Boot(mqtt_tls=bool(self.settings.setoption103))
        self._commands = Commands(self)
        self._http = HttpServer(self, ip, http_port)
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._main: asyncio.Task[None] | None = None
        self._boot_tasks: list[asyncio.Task[Any]] = []
        self._changed = asyncio.Event()
        self._random = random.Random(self.mac)

    # -- public surface ------------------------------------------------------------------------

    @property
    def topic(self) -> str:
        """The topic in use (TasmotaGlobal.mqtt_topic): a new Topic applies after a restart."""
        return self._active_topic

    @property
    def tls_active(self) -> bool:
        """True while connected over TLS."""
        return self.connected and self._tls_active

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
        client, self._client = self._client, None
        if client is not None and client.connected and clean:
            await client.publish(self.lwt_topic, payloads.MQTT_LWT_OFFLINE.encode(), retain=True)
            await client.disconnect()
        elif client is not None:
            await client.abort()
        await self._end_boot()
        self._set_connected(False)

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
                event = self._changed
                await event.wait()

    async def http_command(self, text: str) -> list[Reply]:
        """A command from the web API: runs like a console command, replies also go to MQTT."""
        await self._apply_reply_delay()
        self._log_command("HTTP", text)
        replies = self._commands.execute_text(text)
        await self._publish_replies(replies)
        return replies

    def execute(self, text: str) -> list[Reply]:
        """Run a console command synchronously and return its replies (nothing is published)."""
        return self._commands.execute_text(text)

    # -- things the commands call --------------------------------------------------------------

    def save_settings(self) -> None:
        stamp_settings(self.settings, 0 if self.faults.no_time else int(time.time()))
        save_settings(self.state_path, self.settings)
        self._notify()

    def request_restart(self, reason: str) -> None:
        if not self._boot.restart_pending:
            self.log(f"APP: Restart requested ({reason})")
        self._boot.restart_pending = True
        self._boot.restart_requested.set()
        self._boot.backlog_wakeup.set()

    def queue_backlog(self, commands: list[str], *, nodelay: bool) -> None:
        for command in commands:
            self._boot.backlog.append((command, nodelay))
        self._boot.backlog_wakeup.set()

    def clear_backlog(self) -> bool:
        was_empty = not self._boot.backlog
        self._boot.backlog.clear()
        return was_empty

    def set_rule_timer(self, index: int, seconds: float) -> None:
        old = self._boot.rule_timers.pop(index, None)
        if old is not None:
            old[1].cancel()
        if seconds > 0:
            real = seconds * self.timing.rule_timer_scale
            task = asyncio.create_task(self._rule_timer(index, real))
            self._boot.rule_timers[index] = (time.monotonic() + real, task)
            self._keep(task)

    def rule_timers_left(self) -> list[int]:
        now = time.monotonic()
        scale = self.timing.rule_timer_scale or 1.0
        left = [0] * MAX_RULE_TIMERS
        for index, (deadline, _) in self._boot.rule_timers.items():
            left[index - 1] = max(0, int((deadline - now) / scale))
        return left

    def log(self, message: str) -> None:
        line = f"{self.topic} | {message}"
        self.events.append(line)
        if len(self.events) > _MAX_EVENTS:
            del self.events[: len(self.events) - _MAX_EVENTS]
        LOGGER.info(line)
        self._notify()

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
            client, self._client = self._client, None
            if client is not None:
                # EspRestart() -> WifiShutdown() -> MqttDisconnect(): a clean DISCONNECT, so the
                # broker drops the will and the retained LWT stays Online until we are back.
                client.lost_reason = "restart"
                await client.disconnect()
            await self._end_boot()
            self._set_connected(False)

    async def _power_on(self) -> None:
        self._boot = _Boot(mqtt_tls=bool(self.settings.setoption103))
        self._active_topic = self.settings.topic
        self.boot_time = time.monotonic()
        self.discovery_published = False
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
            asyncio.create_task(self._mqtt_loop()),
            asyncio.create_task(self._backlog_runner()),
            asyncio.create_task(self._command_worker()),
            asyncio.create_task(self._telemetry()),
        ]
        await self._fire_rules("System#Init")

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
        client, self._client = self._client, None
        if client is not None:
            await client.abort()
        self._inbox = asyncio.Queue()
        await self._http.stop()

    # -- MQTT ----------------------------------------------------------------------------------

    async def _mqtt_loop(self) -> None:
        boot = self._boot
        while not boot.restart_pending:
            s = self.settings
            if not s.mqtt_host or not s.mqtt_port:
                self.log("MQT: No MqttHost or MqttPort, MQTT not allowed")
                await self._on_first_connection()
                return
            if boot.mqtt_tls and self.build.aws_iot and not s.mqtt_password:
                # USE_MQTT_AWS_IOT builds anticipate that TLS without a password makes no sense.
                self.log("MQT: TLS on and MqttPassword empty: MQTT not allowed (AWS IoT build)")
                await self._on_first_connection()
                return
            self.log("MQT: Attempting connection...")
            try:
                client = await self._connect()
            except MqttConnectError as err:
                await self._connect_failed(err)
                continue
            self._client = client
            await self._on_connected(client)
            await client.wait_closed()
            self._set_connected(False)
            if boot.restart_pending:
                return
            self.log(f"MQT: Connection lost ({client.lost_reason})")
            self._client = None
            await client.abort()
            # MqttCheck() runs every second and reconnects at once after a loss.
            await self._sleep_unless_restart(self.timing.retry_delay / 10)

    async def _connect_failed(self, err: MqttConnectError) -> None:
        boot = self._boot
        s = self.settings
        if boot.mqtt_tls and err.rc != MQTT_DNS_DISCONNECTED:
            self.log(f"MQT: TLS connection error: {err.tls_error or 0}")
        retry = s.mqtt_retry * boot.retry_counter_delay
        if retry < 120:
            boot.retry_counter_delay += 1
        where = f"{s.mqtt_host}:{s.mqtt_port}"
        self.log(
            f"MQT: Connect failed to {where}, rc {err.rc}. Retry in {retry} sec ({err.reason})"
        )
        await self._fire_rules("Mqtt#Disconnected", "1")
        await self._sleep_unless_restart(retry * self.timing.retry_delay / 10)

    async def _sleep_unless_restart(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._boot.restart_requested.wait()

    async def _connect(self) -> MqttClient:
        connector = Connector(
            settings=self.settings,
            ip=self.ip,
            build=self.build,
            mqtt_tls=self._boot.mqtt_tls,
            trust_anchors_pem=self.trust_anchors_pem,
            faults=self.faults,
            timeout=self.timing.connect_timeout,
            work_dir=self.state_path.parent / f".{self.mac}",
            log=self.log,
            save=self.save_settings,
        )
        if self._boot.mqtt_tls and self.timing.tls_handshake:
            # The handshake's time on the chip; the loopback handshake itself takes none.
            await asyncio.sleep(self.timing.tls_handshake)
        try:
            client = await connector.connect(
                Will(self.lwt_topic, payloads.MQTT_LWT_OFFLINE.encode()), self._on_message
            )
        finally:
            self.peer_fingerprint = connector.peer_fingerprint or self.peer_fingerprint
        self._tls_active = self._boot.mqtt_tls
        return client

    async def _on_connected(self, client: MqttClient) -> None:
        boot = self._boot
        boot.retry_counter_delay = 1
        self.connect_count += 1
        s = self.settings
        mode = "tls" if self._tls_active else "plain"
        self.log(f"MQT: Connected {mode} to {s.mqtt_host}:{s.mqtt_port} as {s.mqtt_client_id}")
        await self._publish(self.lwt_topic, payloads.MQTT_LWT_ONLINE, retain=True)
        for topic in (
            self.full_topic(0, "#"),
            "cmnd/tasmotas/#",  # GroupTopic1 default
            f"cmnd/DVES_{self.mac[-6:]}_fb/#",  # fallback topic
        ):
            if not await client.subscribe(topic):
                return  # lost meanwhile; the MQTT loop reconnects
        self._set_connected(True)
        if boot.initial:
            await self._on_first_connection()
        self._keep(asyncio.create_task(self._publish_discovery()))
        await self._fire_rules("Mqtt#Connected", "1")

    async def _on_first_connection(self) -> None:
        self._boot.initial = False
        for subtopic, data in payloads.info_messages(self):
            await self._publish(self.full_topic(2, subtopic), payloads.dumps(data))
        await self._fire_rules("System#Boot", "1")

    async def _publish_discovery(self) -> None:
        await asyncio.sleep(self.timing.discovery_delay)
        base = f"tasmota/discovery/{self.mac}"
        await self._publish(
            f"{base}/config", payloads.dumps(payloads.discovery_config(self)), retain=True
        )
        await self._publish(
            f"{base}/sensors", payloads.dumps(payloads.discovery_sensors()), retain=True
        )
        self.discovery_published = True
        self._notify()

    async def _telemetry(self) -> None:
        """tele/<topic>/STATE every TelePeriod; the first one 5 s after a connection."""
        while True:
            while not self.connected:
                await self._changed.wait()
            await asyncio.sleep(min(5.0, self.timing.tele_period))
            while self.connected:
                block = payloads.status_block(self, 11)
                if block is not None:
                    await self._publish(
                        self.full_topic(2, "STATE"), payloads.dumps(block["StatusSTS"])
                    )
                await asyncio.sleep(self.timing.tele_period)

    async def _publish(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        client = self._client
        if client is None or not client.connected:
            return False
        return await client.publish(topic, payload.encode(), retain=retain)

    async def _publish_replies(self, replies: list[Reply]) -> None:
        for reply in replies:
            topic = self.full_topic(1, reply.subtopic)
            shown = (
                reply.payload if "MqttPassword" not in reply.payload else '{"MqttPassword":"****"}'
            )
            self.log(f"MQT: {topic} = {shown}")
            await self._publish(topic, reply.payload)

    # -- commands ------------------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        self._inbox.put_nowait((topic, payload))

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
            await self._publish_replies(self._commands.execute(word, data))

    async def _apply_reply_delay(self) -> None:
        if self.faults.reply_delay:
            await asyncio.sleep(self.faults.reply_delay)

    def _log_command(self, source: str, text: str) -> None:
        self.log(f"CMD: {source} {redact(text)}")

    async def _backlog_runner(self) -> None:
        boot = self._boot
        while True:
            if boot.backlog:
                command, nodelay = boot.backlog.popleft()
                self._log_command("Backlog", command)
                await self._publish_replies(self._commands.execute_text(command))
                if not nodelay:
                    await asyncio.sleep(self.timing.backlog_delay)
            elif boot.restart_pending:
                # The restart flag counts down only while the backlog is empty. Settings are
                # on disk already, as SettingsSaveAll() leaves them before EspRestart().
                await asyncio.sleep(self.timing.restart_delay)
                if not boot.backlog:
                    boot.restart_event.set()
                    return
            else:
                boot.backlog_wakeup.clear()
                await boot.backlog_wakeup.wait()

    # -- rules and what commands ask for ----------------------------------------------------------

    def status_block(self, number: int) -> dict[str, Any] | None:
        return payloads.status_block(self, number)

    def publish_soon(self, topic: str, payload: str, *, retain: bool) -> None:
        self._keep(asyncio.create_task(self._publish(topic, payload, retain=retain)))

    def raise_event(self, event: str, value: str) -> None:
        self._keep(asyncio.create_task(self._fire_rules(event, value)))

    async def _fire_rules(self, event: str, value: str | None = None) -> None:
        s = self.settings
        for i, text in enumerate(s.rules):
            if not text or not s.rule_enabled[i]:
                continue
            for n, block in enumerate(parse_rule_set(text)):
                if split_trigger(block.trigger)[0].upper() != event.upper():
                    continue
                matched = trigger_matches(block.trigger, event, value)
                if s.rule_once[i]:
                    # Once ON: fire when the trigger starts to match, not again until it stops.
                    key = (i, n, text)
                    fired_before = key in self._boot.once_fired
                    if matched:
                        self._boot.once_fired.add(key)
                    else:
                        self._boot.once_fired.discard(key)
                    matched = matched and not fired_before
                if matched:
                    commands = substitute(block.commands, value or "", self.topic)
                    self.log(f"RUL: {block.trigger} performs '{redact(commands)}'")
                    await self._publish_replies(self._commands.execute_text(commands))
                    if block.is_break:
                        break

    async def _rule_timer(self, index: int, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._boot.rule_timers.pop(index, None)
        await self._fire_rules("Rules#Timer", str(index))

    # -- state ---------------------------------------------------------------------------------

    def _set_connected(self, connected: bool) -> None:
        if self.connected != connected:
            self.connected = connected
            if not connected:
                self._tls_active = False
            self._notify()

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """Track a task of this boot so that a restart or stop cancels it."""
        self._boot_tasks = [t for t in self._boot_tasks if not t.done()]
        self._boot_tasks.append(task)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()
