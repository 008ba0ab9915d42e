"""What the virtual Tasmota tests share: an independent MQTT observer (paho), the command
round trip over MQTT, and a rig of broker, observer and fleets (fixtures in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers.mosquitto import MosquittoBroker
from virtual_tasmota import Fleet, VirtualDevice

PLAIN_LISTENER = """
listener {port} 127.0.0.1
allow_anonymous true
"""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class Observer:
    """A paho client in its own thread that records everything it sees, in order."""

    def __init__(self, port: int) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"observer-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda *args: self._connected.set()
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("observer could not connect")

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic)
        if not self._subscribed.wait(10):
            raise TimeoutError(f"no SUBACK for {topic}")

    def publish(self, topic: str, payload: str | bytes) -> None:
        self.client.publish(topic, payload).wait_for_publish(10)

    def mark(self) -> int:
        with self._lock:
            return len(self.messages)

    def since(self, mark: int, topic: str | None = None) -> list[Message]:
        with self._lock:
            found = self.messages[mark:]
        return [m for m in found if topic is None or m.topic == topic]

    async def wait_for(
        self,
        topic: str,
        *,
        since: int = 0,
        where: Callable[[Message], bool] = lambda m: True,
        timeout: float = 20.0,  # noqa: ASYNC109 - bounds a polling loop
    ) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.since(since, topic):
                if where(message):
                    return message
            if time.monotonic() > deadline:
                seen = [(m.topic, m.payload[:80]) for m in self.since(since)]
                raise TimeoutError(f"nothing on {topic} after mark {since}; saw {seen}")
            await asyncio.sleep(0.01)

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 20.0,  # noqa: ASYNC109 - bounds a polling loop
    ) -> None:
        """Wait (bounded) until condition() holds: messages may still be on their way."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


ObserverFactory = Callable[[int], Observer]
Retained = Callable[[int, str], Awaitable[Message]]  # retained(port, topic)
FleetFactory = Callable[..., Awaitable[Fleet]]  # make(broker_port, count=1, **Fleet kwargs)


def fast_timing() -> dict[str, float]:
    """Real delays scaled down so that a test runs in well under a second per step."""
    return {
        "boot_delay": 0.05,
        "retry_delay": 0.2,
        "backlog_delay": 0.02,
        "restart_delay": 0.05,
        "rule_timer_scale": 0.01,
    }


async def send(
    observer: Observer, device: VirtualDevice, command: str, data: str = "", reply: str = "RESULT"
) -> Any:
    """Publish cmnd/<topic>/<command>; return the JSON of the reply to it on stat/<topic>/<reply>.

    Other publications on the same topic (a rule's own commands, say) are skipped: the
    reply to this command is the first one keyed by its name (or "Command" on errors).
    """
    base = command.upper().rstrip("0123456789")

    def answers(message: Message) -> bool:
        try:
            keys = list(message.json())
        except ValueError:
            return False
        first = keys[0].upper() if keys else ""
        return (
            first.startswith(base) or first == "COMMAND" or (base == "RULETIMER" and first == "T1")
        )

    mark = observer.mark()
    observer.publish(f"cmnd/{device.topic}/{command}", data)
    message = await observer.wait_for(f"stat/{device.topic}/{reply}", since=mark, where=answers)
    return message.json()


@dataclass
class Rig:
    """A Mosquitto, an observer on its plain listener, and fleets connected to that listener."""

    broker: MosquittoBroker
    observer: Observer
    fleets: FleetFactory
    certfile: Path | None = None  # the TLS listener's certificate, when the rig made it

    @property
    def port(self) -> int:
        return self.broker.ports["port"]

    @property
    def tls_port(self) -> int:
        return self.broker.ports["tls_port"]

    async def fleet(self, count: int = 1, **kwargs: Any) -> Fleet:
        """A started fleet of count devices (Fleet keyword arguments as fleet_factory takes)."""
        return await self.fleets(self.port, count, **kwargs)

    async def device(self, **kwargs: Any) -> VirtualDevice:
        """One started device, in a fleet of its own."""
        return (await self.fleet(**kwargs)).devices[0]

    async def send(
        self, device: VirtualDevice, command: str, data: str = "", reply: str = "RESULT"
    ) -> Any:
        return await send(self.observer, device, command, data, reply)

    def backlog(self, device: VirtualDevice, commands: str) -> None:
        """cmnd/<topic>/Backlog, published without waiting for anything."""
        self.observer.publish(f"cmnd/{device.topic}/Backlog", commands)


# make(config, watch="#") -> a Rig on a new broker; watch=None leaves the observer unsubscribed.
RigFactory = Callable[..., Rig]
