"""A broker with a client-certificate TLS listener, a virtual device and a transport, per test.

The broker has a plain listener (where devices start and where the engine's own
MQTT client sits) and a TLS listener that requires a client certificate and takes
its CN as the user name. Device timers are scaled (rule_timer_scale) so that a
one-minute rollback takes about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from custom_components.tasmota_tls.discovery import TasmotaDevice, parse_discovery_config
from custom_components.tasmota_tls.enrolment import EnrolmentOptions
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from tests.helpers.mosquitto import PLAIN_LISTENER, TLS_LISTENER, MosquittoBroker, free_port
from tests.helpers.plain_transport import PlainTransport
from virtual_tasmota import DeviceFaults, Fleet, VirtualDevice

from .helpers import PASSPHRASE, Issued

BROKER_NAME = "localhost"  # the device's MqttHost; the broker certificate names it
USER_RULE = "ON Power1#State DO Publish stat/x/power %value% ENDON"


@dataclass(frozen=True)
class BrokerFiles:
    directory: Path
    ca_pem: bytes
    fingerprint: str


@pytest.fixture(scope="module")
def broker_files(pki_store: PkiStore, tmp_path_factory: pytest.TempPathFactory) -> BrokerFiles:
    return write_broker_files(pki_store, tmp_path_factory.mktemp("broker-pki"))


def write_broker_files(pki_store: PkiStore, directory: Path) -> BrokerFiles:
    """The store's CA, a broker certificate for BROKER_NAME and its key, for Mosquitto."""
    credential = pki_store.issue_broker(PASSPHRASE, BROKER_NAME)
    ca_pem = (pki_store.directory / "ca.crt").read_bytes()
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "broker.crt").write_bytes(credential.cert_pem)
    key_path = directory / "broker.key"
    key_path.write_bytes(credential.key_pem_unencrypted())
    os.chmod(key_path, 0o600)
    return BrokerFiles(directory, ca_pem, tasmota_fingerprint(credential.certificate))


@dataclass
class World:
    broker: MosquittoBroker
    fleet: Fleet
    transport: PlainTransport
    device: TasmotaDevice  # as discovery describes it
    virtual: VirtualDevice
    plain_port: int
    tls_port: int
    http_port: int
    files: BrokerFiles

    def options(self, **changes: Any) -> EnrolmentOptions:
        values: dict[str, Any] = {
            "broker_host": BROKER_NAME,
            "broker_port": self.tls_port,
            "fingerprint": self.files.fingerprint,
            "http_port": self.http_port,
            "step_timeout": 5.0,
            "poll_interval": 0.2,
            "rollback_minutes": 1,
            "wait_online_timeout": 20.0,
        }
        values.update(changes)
        return EnrolmentOptions(**values)

    def issuer(self, make_issuer: Callable[[str, str], Issued]) -> Issued:
        return make_issuer(self.device.topic, self.device.topic)


@pytest.fixture
def world(
    tmp_path: Path,
    mosquitto_factory: Callable[..., MosquittoBroker],
    broker_files: BrokerFiles,
) -> Callable[..., contextlib.AbstractAsyncContextManager[World]]:
    """``async with world(tls_listener=True, faults=None, web_password=None) as w:``.

    ``files`` replaces the module's broker files (another CA); ``build`` goes to the Fleet
    (firmware, chip, tls_ecdsa). A context manager rather than a fixture: sockets may be
    opened in test bodies only.
    """

    @contextlib.asynccontextmanager
    async def make(
        *,
        tls_listener: bool = True,
        faults: DeviceFaults | None = None,
        web_password: str | None = None,
        files: BrokerFiles | None = None,
        build: dict[str, Any] | None = None,
    ) -> AsyncIterator[World]:
        used = files or broker_files
        config = PLAIN_LISTENER
        if tls_listener:
            config += TLS_LISTENER % {"dir": used.directory}
        broker = mosquitto_factory(config)
        tls_port = broker.ports["tls_port"] if tls_listener else free_port()
        http_port = free_port()
        fleet = Fleet(
            broker_host="127.0.0.1",
            broker_port=broker.ports["port"],
            state_dir=tmp_path / "fleet",
            count=1,
            http_port=http_port,
            trust_anchors_pem=used.ca_pem,
            boot_delay=0.05,
            retry_delay=0.5,
            backlog_delay=0.01,
            restart_delay=0.05,
            rule_timer_scale=0.02,
            faults=faults,
            web_password=web_password,
            **(build or {}),
        )
        async with PlainTransport("127.0.0.1", broker.ports["port"]) as transport, fleet:
            virtual = fleet.devices[0]
            device = await discover(transport, virtual.mac)
            yield World(
                broker,
                fleet,
                transport,
                device,
                virtual,
                broker.ports["port"],
                tls_port,
                http_port,
                used,
            )

    return make


async def discover(transport: PlainTransport, mac: str) -> TasmotaDevice:
    """Read the device the way the integration does: its retained discovery config."""
    async with transport.listen(f"tasmota/discovery/{mac}/config") as queue:
        message = await asyncio.wait_for(queue.get(), 10)
    return parse_discovery_config(message.payload)


def set_user_rule(virtual: VirtualDevice) -> None:
    virtual.execute(f"Rule3 {USER_RULE}")
    virtual.execute("Rule3 1")


def rule_slot(virtual: VirtualDevice) -> tuple[str, int]:
    settings = virtual.settings
    return settings.rules[2], int(settings.rule_enabled[2])


def mqtt_settings(virtual: VirtualDevice) -> tuple[str, int, int]:
    settings = virtual.settings
    return settings.mqtt_host, settings.mqtt_port, int(settings.setoption103)
