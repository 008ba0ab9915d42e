"""The device's MQTT side (xdrv_02_9_mqtt.ino): connect with MqttRetry's rhythm, the LWT,
subscriptions, the INFO messages, discovery, TelePeriod telemetry and publishing replies."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from .boot import Boot
from .changes import Changes
from .command_base import Reply
from .connection import MQTT_DNS_DISCONNECTED, Connector
from .faults import DeviceFaults
from .firmware import FirmwareBuild
from .mqtt import MqttClient, MqttConnectError, Will
from .payloads import (
    MQTT_LWT_OFFLINE,
    MQTT_LWT_ONLINE,
    DeviceView,
    discovery_config,
    discovery_sensors,
    dumps,
    info_messages,
    status_block,
)
from .timing import Timing


class LinkHost(DeviceView, Protocol):
    """What the MQTT side reads and calls on a device."""

    build: FirmwareBuild
    faults: DeviceFaults
    timing: Timing
    trust_anchors_pem: bytes | None

    @property
    def work_dir(self) -> Path: ...

    @property
    def lwt_topic(self) -> str: ...

    def full_topic(self, prefix: int, subtopic: str) -> str: ...
    def log(self, message: str) -> None: ...
    def save_settings(self) -> None: ...
    def on_message(self, topic: str, payload: bytes) -> None: ...
    async def fire_rules(self, event: str, value: str | None = None) -> None: ...
    def keep_task(self, task: asyncio.Task[Any]) -> None: ...


class MqttLink:
    """The connection to the broker and what the device knows about it."""

    def __init__(self, host: LinkHost, changes: Changes) -> None:
        self._host = host
        self._changes = changes
        self._client: MqttClient | None = None
        self._tls_active = False
        self.connected = False  # connected and subscribed
        self.connect_count = 0
        self.discovery_published = False
        self.peer_fingerprint: str | None = None  # the broker's, seen at the last TLS connection

    @property
    def tls_active(self) -> bool:
        return self.connected and self._tls_active

    # -- the connection loop of one boot ----------------------------------------------------------

    async def run(self, boot: Boot) -> None:
        """MqttCheck() for one boot: connect, stay connected, reconnect, until a restart."""
        host = self._host
        while not boot.restart_pending:
            s = host.settings
            if not s.mqtt_host or not s.mqtt_port:
                host.log("MQT: No MqttHost or MqttPort, MQTT not allowed")
                await self._on_first_connection(boot)
                return
            if boot.mqtt_tls and host.build.aws_iot and not s.mqtt_password:
                # USE_MQTT_AWS_IOT builds anticipate that TLS without a password makes no sense.
                host.log("MQT: TLS on and MqttPassword empty: MQTT not allowed (AWS IoT build)")
                await self._on_first_connection(boot)
                return
            host.log("MQT: Attempting connection...")
            try:
                client = await self._connect(boot)
            except MqttConnectError as err:
                await self._connect_failed(boot, err)
                continue
            self._client = client
            await self._on_connected(boot, client)
            await client.wait_closed()
            self.set_connected(False)
            if boot.restart_pending:
                return
            host.log(f"MQT: Connection lost ({client.lost_reason})")
            self._client = None
            await client.abort()
            # MqttCheck() runs every second and reconnects at once after a loss.
            await boot.sleep_unless_restart(host.timing.retry_delay / 10)

    async def _connect_failed(self, boot: Boot, err: MqttConnectError) -> None:
        host = self._host
        s = host.settings
        if boot.mqtt_tls and err.rc != MQTT_DNS_DISCONNECTED:
            host.log(f"MQT: TLS connection error: {err.tls_error or 0}")
        retry = s.mqtt_retry * boot.retry_counter_delay
        if retry < 120:
            boot.retry_counter_delay += 1
        where = f"{s.mqtt_host}:{s.mqtt_port}"
        host.log(
            f"MQT: Connect failed to {where}, rc {err.rc}. Retry in {retry} sec ({err.reason})"
        )
        await host.fire_rules("Mqtt#Disconnected", "1")
        await boot.sleep_unless_restart(retry * host.timing.retry_delay / 10)

    async def _connect(self, boot: Boot) -> MqttClient:
        host = self._host
        connector = Connector(
            settings=host.settings,
            ip=host.ip,
            build=host.build,
            mqtt_tls=boot.mqtt_tls,
            trust_anchors_pem=host.trust_anchors_pem,
            faults=host.faults,
            timeout=host.timing.connect_timeout,
            work_dir=host.work_dir,
            log=host.log,
            save=host.save_settings,
        )
        if boot.mqtt_tls and host.timing.tls_handshake:
            # The handshake's time on the chip; the loopback handshake itself takes none.
            await asyncio.sleep(host.timing.tls_handshake)
        try:
            client = await connector.connect(
                Will(host.lwt_topic, MQTT_LWT_OFFLINE.encode()), host.on_message
            )
        finally:
            self.peer_fingerprint = connector.peer_fingerprint or self.peer_fingerprint
        self._tls_active = boot.mqtt_tls
        return client

    async def _on_connected(self, boot: Boot, client: MqttClient) -> None:
        host = self._host
        boot.retry_counter_delay = 1
        self.connect_count += 1
        s = host.settings
        mode = "tls" if self._tls_active else "plain"
        host.log(f"MQT: Connected {mode} to {s.mqtt_host}:{s.mqtt_port} as {s.mqtt_client_id}")
        await self.publish(host.lwt_topic, MQTT_LWT_ONLINE, retain=True)
        for topic in (
            host.full_topic(0, "#"),
            "cmnd/tasmotas/#",  # GroupTopic1 default
            f"cmnd/DVES_{host.mac[-6:]}_fb/#",  # fallback topic
        ):
            if not await client.subscribe(topic):
                return  # lost meanwhile; the MQTT loop reconnects
        self.set_connected(True)
        if boot.initial:
            await self._on_first_connection(boot)
        host.keep_task(asyncio.create_task(self._publish_discovery()))
        await host.fire_rules("Mqtt#Connected", "1")

    async def _on_first_connection(self, boot: Boot) -> None:
        host = self._host
        boot.initial = False
        for subtopic, data in info_messages(host):
            await self.publish(host.full_topic(2, subtopic), dumps(data))
        await host.fire_rules("System#Boot", "1")

    async def _publish_discovery(self) -> None:
        host = self._host
        await asyncio.sleep(host.timing.discovery_delay)
        base = f"tasmota/discovery/{host.mac}"
        await self.publish(f"{base}/config", dumps(discovery_config(host)), retain=True)
        await self.publish(f"{base}/sensors", dumps(discovery_sensors()), retain=True)
        self.discovery_published = True
        self._changes.notify()

    async def telemetry(self) -> None:
        """tele/<topic>/STATE every TelePeriod; the first one 5 s after a connection."""
        host = self._host
        while True:
            while not self.connected:
                await self._changes.wait()
            await asyncio.sleep(min(5.0, host.timing.tele_period))
            while self.connected:
                block = status_block(host, 11)
                if block is not None:
                    await self.publish(host.full_topic(2, "STATE"), dumps(block["StatusSTS"]))
                await asyncio.sleep(host.timing.tele_period)

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        client = self._client
        if client is None or not client.connected:
            return False
        return await client.publish(topic, payload.encode(), retain=retain)

    async def publish_replies(self, replies: list[Reply]) -> None:
        """Each reply on stat/<topic>/<subtopic>, logged with a password shown as ****."""
        for reply in replies:
            topic = self._host.full_topic(1, reply.subtopic)
            shown = (
                reply.payload if "MqttPassword" not in reply.payload else '{"MqttPassword":"****"}'
            )
            self._host.log(f"MQT: {topic} = {shown}")
            await self.publish(topic, reply.payload)

    # -- ending a connection ------------------------------------------------------------------

    async def power_off(self, *, clean: bool) -> None:
        """Offline published and DISCONNECT sent (clean), or the connection just dropped so
        that the broker publishes the will (not clean)."""
        client, self._client = self._client, None
        if client is not None and client.connected and clean:
            await client.publish(self._host.lwt_topic, MQTT_LWT_OFFLINE.encode(), retain=True)
            await client.disconnect()
        elif client is not None:
            await client.abort()

    async def disconnect_for_restart(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # EspRestart() -> WifiShutdown() -> MqttDisconnect(): a clean DISCONNECT, so the
            # broker drops the will and the retained LWT stays Online until we are back.
            client.lost_reason = "restart"
            await client.disconnect()

    async def abort(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.abort()

    def set_connected(self, connected: bool) -> None:
        if self.connected != connected:
            self.connected = connected
            if not connected:
                self._tls_active = False
            self._changes.notify()
