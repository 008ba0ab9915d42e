"""The engine against virtual Tasmota devices on a real Mosquitto with a real TLS listener.

The broker has a plain listener (where devices start and where the engine's own
MQTT client sits) and a TLS listener that requires a client certificate and takes
its CN as the user name. Credentials come from the PKI core. Device timers are
scaled (rule_timer_scale) so a one-minute rollback takes about a second.
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
from custom_components.tasmota_tls.enrolment import (
    Enroller,
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
)
from custom_components.tasmota_tls.enrolment.plain_transport import PlainTransport
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from tests.helpers.mosquitto import MosquittoBroker, free_port
from virtual_tasmota import DeviceFaults, Fleet, VirtualDevice

from .conftest import PASSPHRASE, Issued, JournalLog

BROKER_NAME = "localhost"  # the device's MqttHost; the broker certificate names it
USER_RULE = "ON Power1#State DO Publish stat/x/power %value% ENDON"

PLAIN_LISTENER = """
allow_anonymous true
listener {port} 127.0.0.1
"""
TLS_LISTENER = """
listener {tls_port} 127.0.0.1
cafile %(dir)s/ca.crt
certfile %(dir)s/broker.crt
keyfile %(dir)s/broker.key
require_certificate true
use_identity_as_username true
"""


@dataclass(frozen=True)
class BrokerFiles:
    directory: Path
    ca_pem: bytes
    fingerprint: str


@pytest.fixture(scope="module")
def broker_files(pki_store: PkiStore, tmp_path_factory: pytest.TempPathFactory) -> BrokerFiles:
    directory = tmp_path_factory.mktemp("broker-pki")
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

    A context manager rather than a fixture: sockets may be opened in test bodies only.
    """

    @contextlib.asynccontextmanager
    async def make(
        *,
        tls_listener: bool = True,
        faults: DeviceFaults | None = None,
        web_password: str | None = None,
    ) -> AsyncIterator[World]:
        config = PLAIN_LISTENER
        if tls_listener:
            config += TLS_LISTENER % {"dir": broker_files.directory}
        broker = mosquitto_factory(config)
        tls_port = broker.ports["tls_port"] if tls_listener else free_port()
        http_port = free_port()
        fleet = Fleet(
            broker_host="127.0.0.1",
            broker_port=broker.ports["port"],
            state_dir=tmp_path / "fleet",
            count=1,
            http_port=http_port,
            trust_anchors_pem=broker_files.ca_pem,
            boot_delay=0.05,
            retry_delay=0.5,
            backlog_delay=0.01,
            restart_delay=0.05,
            rule_timer_scale=0.02,
            faults=faults,
            web_password=web_password,
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
                broker_files,
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


async def test_enrol_happy_path(world: Any, make_issuer: Any, journal: JournalLog) -> None:
    async with world() as w:
        set_user_rule(w.virtual)
        issuer = w.issuer(make_issuer)
        mark = w.broker.log_mark()
        record = await Enroller(w.transport, w.options()).enrol(w.device, issuer, journal)

        payloads = issuer.credentials[0].payloads
        assert record.step == EnrolmentStep.DONE
        assert w.virtual.tls_active
        assert mqtt_settings(w.virtual) == (BROKER_NAME, w.tls_port, 1)
        assert w.virtual.settings.setoption132 == 1
        assert len(w.virtual.settings.tlskey1 or b"") == 32
        assert len(w.virtual.settings.tlskey2 or b"") == payloads.der_bytes
        assert rule_slot(w.virtual) == (USER_RULE, 1)  # disarmed: the user's rule is back
        # The broker took the device's certificate CN as its user name on the TLS listener.
        users = [user for _, user in w.broker.connected_usernames(since=mark)]
        assert w.device.topic in users
        assert journal.steps[-3:] == ["wait_online", "disarm", "done"]
        for secret in issuer.secrets():
            assert secret not in journal.text()
            assert secret not in w.broker.log_text()  # the key never crossed the broker


async def test_tls_listener_down_rolls_back(
    world: Any, make_issuer: Any, journal: JournalLog
) -> None:
    async with world(tls_listener=False) as w:
        set_user_rule(w.virtual)
        before = mqtt_settings(w.virtual)
        boots = w.virtual.settings.boot_count
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, w.options()).enrol(w.device, w.issuer(make_issuer), journal)

        assert caught.value.reason == "rolled_back"
        assert w.virtual.connected and not w.virtual.tls_active
        assert mqtt_settings(w.virtual) == before == ("127.0.0.1", w.plain_port, 0)
        assert w.virtual.settings.boot_count == boots + 2  # the switch, then the restore
        assert rule_slot(w.virtual) == (USER_RULE, 1)
        assert journal.last.step == EnrolmentStep.FAILED
        assert journal.last.failed_step == EnrolmentStep.WAIT_ONLINE


async def test_stock_firmware_changes_nothing(
    world: Any, make_issuer: Any, journal: JournalLog
) -> None:
    async with world(faults=DeviceFaults(no_tlskey=True)) as w:
        before = (mqtt_settings(w.virtual), rule_slot(w.virtual), w.virtual.settings.boot_count)
        issuer = w.issuer(make_issuer)
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, w.options()).enrol(w.device, issuer, journal)

        assert caught.value.reason == "no_tlskey_support"
        assert issuer.credentials == []
        after = (mqtt_settings(w.virtual), rule_slot(w.virtual), w.virtual.settings.boot_count)
        assert after == before
        assert w.virtual.connected


async def test_web_password(world: Any, make_issuer: Any, journal: JournalLog) -> None:
    password = "p+ss/w=rd&x"  # every character the URL encoding has to get right
    async with world(web_password=password) as w:
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, w.options(web_password="wrong")).enrol(
                w.device, w.issuer(make_issuer), JournalLog()
            )
        assert caught.value.reason == "auth_failed"

        record = await Enroller(w.transport, w.options(web_password=password)).enrol(
            w.device, w.issuer(make_issuer), journal
        )
        assert record.step == EnrolmentStep.DONE and w.virtual.tls_active
        assert password not in journal.text()


async def test_mqtt_channel(world: Any, make_issuer: Any, journal: JournalLog) -> None:
    async with world() as w:
        mark = w.broker.log_mark()
        record = await Enroller(w.transport, w.options(channel="mqtt")).enrol(
            w.device, w.issuer(make_issuer), journal
        )
        assert record.step == EnrolmentStep.DONE and w.virtual.tls_active
        # Both key commands went through the broker, not retained (r0).
        log = w.broker.log_text()[mark:]
        for command in ("TLSKey1", "TLSKey2"):
            topic = w.device.command_topic(command)
            assert f"r0, m0, '{topic}'" in log
            assert f"r1, m0, '{topic}'" not in log


async def test_ca_validation(world: Any, make_issuer: Any, journal: JournalLog) -> None:
    async with world() as w:
        options = w.options(validation="ca", fingerprint=None)
        record = await Enroller(w.transport, options).enrol(
            w.device, w.issuer(make_issuer), journal
        )
        assert record.step == EnrolmentStep.DONE and w.virtual.tls_active
        assert w.virtual.settings.setoption132 == 0


class SimulatedCrash(Exception):
    """Home Assistant stopping in the middle of an enrolment."""


class CrashingJournal(JournalLog):
    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    async def __call__(self, record: EnrolmentRecord) -> None:
        await super().__call__(record)
        if record.step == self.at:
            raise SimulatedCrash


async def test_resume_after_restart_during_wait(world: Any, make_issuer: Any) -> None:
    async with world() as w:
        set_user_rule(w.virtual)
        crashing = CrashingJournal(at="wait_online")
        with pytest.raises(SimulatedCrash):
            await Enroller(w.transport, w.options()).enrol(
                w.device, w.issuer(make_issuer), crashing
            )
        saved = crashing.last
        assert saved.step == EnrolmentStep.WAIT_ONLINE and saved.switched_at

        journal = JournalLog()
        record = await Enroller(w.transport, w.options()).resume(w.device, saved, journal)
        assert record.step == EnrolmentStep.DONE
        assert w.virtual.tls_active
        assert rule_slot(w.virtual) == (USER_RULE, 1)


async def test_resume_sees_the_rollback_through(world: Any, make_issuer: Any) -> None:
    async with world(tls_listener=False) as w:
        crashing = CrashingJournal(at="wait_online")
        with pytest.raises(SimulatedCrash):
            await Enroller(w.transport, w.options()).enrol(
                w.device, w.issuer(make_issuer), crashing
            )

        journal = JournalLog()
        record = await Enroller(w.transport, w.options()).resume(w.device, crashing.last, journal)
        assert record.step == EnrolmentStep.FAILED and record.reason == "rolled_back"
        assert w.virtual.connected and mqtt_settings(w.virtual)[1:] == (w.plain_port, 0)
        assert rule_slot(w.virtual) == ("", 0)


async def test_renew_after_enrolment(world: Any, make_issuer: Any, journal: JournalLog) -> None:
    async with world() as w:
        enroller = Enroller(w.transport, w.options())
        await enroller.enrol(w.device, w.issuer(make_issuer), journal)
        issuer = w.issuer(make_issuer)
        connections = w.virtual.connect_count

        record = await enroller.renew(w.device, issuer, JournalLog())
        new = issuer.credentials[0]
        assert record.step == EnrolmentStep.DONE and record.serial == new.entry.serial
        assert w.virtual.settings.tlskey2 == new.cert_der
        assert w.virtual.tls_active and w.virtual.connect_count > connections
