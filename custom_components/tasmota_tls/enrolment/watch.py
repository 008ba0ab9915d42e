"""Watching a device come back after the switch (or a restart).

Evidence, all of it seen over MQTT so it proves the device is connected:
- a *live* ``Online`` on the LWT topic (retain flag 0: a fresh connection, not the
  replay of the retained message a subscription gets first);
- the ``Status 6`` reply: ``MqttTLS`` is the live connection's state (1 = TLS),
  ``MqttHost``/``MqttPort`` the settings. Firmware before ``MqttTLS`` existed is
  judged by host and port, after a fresh Online.

Before the device restarts, Status 6 already shows the new host and port with
``MqttTLS`` 0: that is "switch pending", not a result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .device_link import DeviceLink, reply_value
from .model import EnrolmentOptions
from .rollback import PreviousSettings
from .transport import MqttMessage, Transport, TransportError, decode_json_object

_LOGGER = logging.getLogger(__name__)


class Outcome(StrEnum):
    TLS = "tls"  # connected over TLS to our broker
    PREVIOUS = "previous"  # connected with the previous settings (rolled back or never switched)
    UNKNOWN = "unknown"  # no conclusive evidence before the deadline


@dataclass(frozen=True)
class MqttStatus:
    """The parts of ``Status 6`` (StatusMQT) we judge by."""

    host: str
    port: int
    tls: bool | None  # None on firmware without MqttTLS

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> MqttStatus | None:
        body = reply_value(reply, "StatusMQT")
        if not isinstance(body, dict):
            return None
        host, port = reply_value(body, "MqttHost"), reply_value(body, "MqttPort")
        if not isinstance(host, str) or not isinstance(port, int):
            return None
        tls = reply_value(body, "MqttTLS")
        return cls(host=host, port=port, tls=None if tls is None else bool(tls))


@dataclass
class Watch:
    """What to look for, and how much evidence is enough."""

    options: EnrolmentOptions
    previous: PreviousSettings | None
    # After a switch or restart we need a fresh Online before trusting Status 6;
    # on resume (long after) the current Status 6 is enough.
    need_fresh_online: bool = True
    # Without a fresh Online, "back on the previous settings" is only believed from this
    # monotonic time on: a Backlog sent just before may not have run yet.
    previous_settled_at: float = 0.0

    def on_broker(self, status: MqttStatus) -> bool:
        return (
            status.host.lower() == self.options.broker_host.lower()
            and status.port == self.options.broker_port
        )

    def is_tls(self, status: MqttStatus, fresh_online: bool) -> bool:
        if status.tls is None:  # old firmware: settings only, so insist on a reconnection
            return fresh_online and self.on_broker(status)
        if not status.tls:
            return False
        if fresh_online or not self.need_fresh_online:
            return True
        # Already on TLS before? Then only a reconnection proves the new settings.
        return self.previous is not None and not self.previous.tls and self.on_broker(status)

    def is_previous(self, status: MqttStatus, fresh_online: bool) -> bool:
        prev = self.previous
        if prev is None:
            return False
        if not fresh_online and (
            self.need_fresh_online or time.monotonic() < self.previous_settled_at
        ):
            return False
        return (
            status.host.lower() == prev.mqtt_host.lower()
            and status.port == prev.mqtt_port
            and (status.tls is None or status.tls == prev.tls)
        )


@dataclass
class _Seen:
    """Evidence gathered so far; it outlives a broker connection that drops."""

    fresh_online: bool = False
    last_status: MqttStatus | None = None
    last_status_at: float = 0.0


async def watch_device(
    transport: Transport, link: DeviceLink, watch: Watch, seconds: float
) -> Outcome:
    """Poll ``Status 6`` over MQTT and follow the LWT until an outcome is clear.

    The broker may be away for part of the time (it restarts, or Home Assistant's
    client reconnects): the watch then subscribes again until the deadline, because
    the switch has been sent and only the device's own reports can tell the result.
    """
    deadline = time.monotonic() + seconds
    seen = _Seen()
    while time.monotonic() < deadline:
        try:
            outcome = await _watch_until(transport, link, watch, deadline, seen)
        except TransportError as err:
            _LOGGER.debug("%s: broker unavailable while watching: %s", link.device.mac, err)
            await asyncio.sleep(min(watch.options.poll_interval, deadline - time.monotonic()))
            continue
        if outcome is not None:
            return outcome
    recent = max(3 * watch.options.poll_interval, watch.options.step_timeout)
    if time.monotonic() - seen.last_status_at > recent:
        seen.last_status = None
    return _final(watch, seen.last_status)


async def _watch_until(
    transport: Transport, link: DeviceLink, watch: Watch, deadline: float, seen: _Seen
) -> Outcome | None:
    """One subscription's worth of watching; None when the deadline passes undecided."""
    device = link.device
    async with AsyncExitStack() as stack:
        lwt = await stack.enter_async_context(transport.listen(device.lwt_topic))
        stat = await stack.enter_async_context(transport.listen(link.status6_topic))
        merged = _Merged({"lwt": lwt, "stat": stat})
        stack.callback(merged.close)
        next_poll = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= next_poll:
                await _query_status(transport, link)
                next_poll = now + watch.options.poll_interval
            got = await merged.get(min(next_poll, deadline) - time.monotonic())
            if got is None:
                continue
            source, message = got
            if source == "lwt":
                if message.retain:
                    continue
                if message.payload == device.online_payload:
                    seen.fresh_online = True
                    next_poll = 0.0  # ask at once: the device has just connected
                elif message.payload == device.offline_payload:
                    seen.fresh_online = False
                    seen.last_status = None
                continue
            reply = decode_json_object(message.payload)
            status = MqttStatus.from_reply(reply) if reply else None
            if status is None:
                continue
            seen.last_status, seen.last_status_at = status, time.monotonic()
            _LOGGER.debug(
                "%s: Status 6 %s (fresh online: %s)", device.mac, status, seen.fresh_online
            )
            if watch.is_tls(status, seen.fresh_online):
                return Outcome.TLS
            if watch.is_previous(status, seen.fresh_online):
                return Outcome.PREVIOUS
    return None


def _final(watch: Watch, status: MqttStatus | None) -> Outcome:
    """At the deadline: a device still answering with its previous settings never left them.

    (The switch did not arrive, or the rollback happened without our seeing the
    reconnection.) Only a recent answer counts, so a silent device stays UNKNOWN.
    """
    relaxed = Watch(watch.options, watch.previous, need_fresh_online=False)
    if status is not None and relaxed.is_previous(status, fresh_online=True):
        return Outcome.PREVIOUS
    return Outcome.UNKNOWN


async def _query_status(transport: Transport, link: DeviceLink) -> None:
    try:
        await transport.publish(link.device.command_topic("Status"), "6")
    except TransportError as err:  # the broker may be restarting; keep watching
        _LOGGER.debug("%s: Status 6 not sent: %s", link.device.mac, err)


class _Merged:
    """Wait on several queues at once without losing a message."""

    def __init__(self, queues: dict[str, asyncio.Queue[MqttMessage]]) -> None:
        self._queues = queues
        self._pending: dict[str, asyncio.Task[MqttMessage]] = {}

    async def get(self, seconds: float) -> tuple[str, MqttMessage] | None:
        for name, queue in self._queues.items():
            if name not in self._pending:
                self._pending[name] = asyncio.ensure_future(queue.get())
        done, _ = await asyncio.wait(
            self._pending.values(), timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED
        )
        for name, task in list(self._pending.items()):
            if task in done:
                del self._pending[name]
                return name, task.result()
        return None

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
