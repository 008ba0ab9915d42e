"""Fixtures for the virtual Tasmota tests: a real Mosquitto, an independent MQTT observer
(paho), credentials from the project's PKI core, and fleets that are always stopped.
What the tests import lives in helpers.py and tls_helpers.py."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers import mosquitto as mosquitto_helpers
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker, free_port
from virtual_tasmota import Fleet

from .helpers import (
    PLAIN_LISTENER,
    FleetFactory,
    Message,
    Observer,
    ObserverFactory,
    Retained,
    Rig,
    RigFactory,
    fast_timing,
)
from .tls_helpers import PASSPHRASE, Pki, tls_listener

mosquitto_factory = mosquitto_helpers.mosquitto_factory  # the fixture, for these tests


@pytest.fixture
def plain_broker(mosquitto_factory: BrokerFactory) -> MosquittoBroker:
    return mosquitto_factory(PLAIN_LISTENER)


@pytest.fixture
def observer_factory(socket_enabled: None) -> Iterator[ObserverFactory]:
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
def retained(observer_factory: ObserverFactory) -> Retained:
    """retained(port, topic): what a new subscriber gets right away, i.e. the retained message."""

    async def read(port: int, topic: str) -> Message:
        late = observer_factory(port)
        late.subscribe(topic)
        message = await late.wait_for(topic)
        assert message.retain, f"{topic} was not retained"
        return message

    return read


@pytest.fixture
def observer(plain_broker: MosquittoBroker, observer_factory: ObserverFactory) -> Observer:
    watcher = observer_factory(plain_broker.port)
    watcher.subscribe("#")
    return watcher


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


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A fresh CA (RSA-2048, CN only), made by the project's PKI core."""
    store = PkiStore(tmp_path / "pki")
    ca = store.init_ca(PASSPHRASE, "Virtual Tasmota Test CA")
    files = tmp_path / "broker-files"
    files.mkdir()
    return Pki(store, ca.public_bytes(serialization.Encoding.PEM), files)


@pytest.fixture
def rig_factory(
    mosquitto_factory: BrokerFactory,
    observer_factory: ObserverFactory,
    fleet_factory: FleetFactory,
) -> RigFactory:
    """make(config, watch="#", certfile=None) -> a Rig: a broker started from config, an
    observer on its plain listener (subscribed to watch unless None), fleets on it."""

    def make(config: str, *, watch: str | None = "#", certfile: Path | None = None) -> Rig:
        broker = mosquitto_factory(config)
        observer = observer_factory(broker.ports["port"])
        if watch is not None:
            observer.subscribe(watch)
        return Rig(broker, observer, fleet_factory, certfile)

    return make


@pytest.fixture
def tls_rig(pki: Pki, rig_factory: RigFactory) -> Rig:
    """A rig whose TLS listener (TLS 1.2, client certificates required, the CN as user name)
    has a broker certificate for 127.0.0.1 from the PKI core; the observer sees everything."""
    cafile, certfile, keyfile = pki.broker_files()
    return rig_factory(tls_listener(cafile, certfile, keyfile), certfile=certfile)
