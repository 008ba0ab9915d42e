"""Fixtures for the virtual Tasmota tests: a real Mosquitto, an independent MQTT observer
(paho), credentials from the project's PKI core, and fleets that are always stopped."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers import mosquitto as mosquitto_helpers
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker, free_port
from virtual_tasmota import DeviceFaults, Fleet, VirtualDevice

mosquitto_factory = mosquitto_helpers.mosquitto_factory  # the fixture, for these tests
PASSPHRASE = "correct horse battery staple"
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


@pytest.fixture
def plain_broker(mosquitto_factory: BrokerFactory) -> MosquittoBroker:
    return mosquitto_factory(PLAIN_LISTENER)


@pytest.fixture
def observer_factory(socket_enabled: None) -> Iterator[Callable[[int], Observer]]:
    """Observers are made during fixture set-up, before the suite's loopback guard is
    installed, hence socket_enabled; they only ever connect to 127.0.0.1."""
    observers: list[Observer] = []

    def make(port: int) -> Observer:
        observer = Observer(port)
        observers.append(observer)
        return observer

    yield make
    for observer in observers:
        observer.close()


@pytest.fixture
def retained(
    observer_factory: Callable[[int], Observer],
) -> Callable[[int, str], Awaitable[Message]]:
    """retained(port, topic): what a new subscriber gets right away, i.e. the retained message."""

    async def read(port: int, topic: str) -> Message:
        late = observer_factory(port)
        late.subscribe(topic)
        message = await late.wait_for(topic)
        assert message.retain, f"{topic} was not retained"
        return message

    return read


Retained = Callable[[int, str], Awaitable[Message]]


@pytest.fixture
def observer(
    plain_broker: MosquittoBroker, observer_factory: Callable[[int], Observer]
) -> Observer:
    watcher = observer_factory(plain_broker.port)
    watcher.subscribe("#")
    return watcher


def fast_timing() -> dict[str, float]:
    """Real delays scaled down so that a test runs in well under a second per step."""
    return {
        "boot_delay": 0.05,
        "retry_delay": 0.2,
        "backlog_delay": 0.02,
        "restart_delay": 0.05,
        "rule_timer_scale": 0.01,
    }


FleetFactory = Callable[..., Awaitable[Fleet]]


@pytest.fixture
async def fleet_factory(tmp_path: Path) -> AsyncIterator[FleetFactory]:
    """make(broker_port, count=1, **Fleet kwargs) -> a started Fleet; all are stopped after."""
    fleets: list[Fleet] = []

    async def make(
        broker_port: int,
        count: int = 1,
        *,
        start: bool = True,
        start_timeout: float = 30,
        **kwargs: Any,
    ) -> Fleet:
        options: dict[str, Any] = {
            "broker_host": "127.0.0.1",
            "broker_port": broker_port,
            "state_dir": tmp_path / f"fleet{len(fleets)}",
            "count": count,
            "first_ip": f"127.{random.randrange(10, 250)}.{random.randrange(0, 250)}.2",
            "http_port": free_port(),
            **fast_timing(),
        }
        options.update(kwargs)
        fleet = Fleet(**options)
        fleets.append(fleet)
        if start:
            await fleet.start(timeout=start_timeout)
        return fleet

    yield make
    for fleet in fleets:
        await fleet.stop()


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
class Pki:
    store: PkiStore
    ca_pem: bytes
    dir: Path

    def broker_files(self, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
        """(cafile, certfile, keyfile) for a Mosquitto TLS listener; the key file is 0600."""
        from cryptography.hazmat.primitives import serialization

        issued = self.store.issue_broker(PASSPHRASE, host)
        cafile, certfile, keyfile = (
            self.dir / "ca.pem",
            self.dir / "broker.pem",
            self.dir / "broker.key",
        )
        cafile.write_bytes(self.ca_pem)
        certfile.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(issued.key_pem_unencrypted())
        return cafile, certfile, keyfile


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A fresh CA (RSA-2048, CN only), made by the project's PKI core."""
    from cryptography.hazmat.primitives import serialization

    store = PkiStore(tmp_path / "pki")
    ca = store.init_ca(PASSPHRASE, "Virtual Tasmota Test CA")
    files = tmp_path / "broker-files"
    files.mkdir()
    return Pki(store, ca.public_bytes(serialization.Encoding.PEM), files)


def tls_listener(cafile: Path, certfile: Path, keyfile: Path) -> str:
    return f"""
listener {{port}} 127.0.0.1
allow_anonymous true
listener {{tls_port}} 127.0.0.1
cafile {cafile}
certfile {certfile}
keyfile {keyfile}
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
"""


__all__ = ["DeviceFaults", "Message", "Observer", "send"]
