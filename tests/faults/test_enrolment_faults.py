"""Enrolment under faults, with real processes: Mosquitto, virtual Tasmota devices, the engine.

Every fault ends with each device either enrolled (the engine returned DONE and the
device is connected over TLS, Status 6 says MqttTLS 1) or reported failed
(EnrolmentError) and connected again on its previous settings. No device is left
unreachable, and every certificate the issuer handed out is in the PKI store's
index and in the device's journal record.

The broker has a plain listener (devices start there, the engine's client sits
there) and a TLS listener that requires a client certificate (see
tests/enrolment/virtual_world.py). Rule timers run 50 times faster than on a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import (
    Enroller,
    EnrolmentError,
    EnrolmentRecord,
    EnrolmentStep,
)
from custom_components.tasmota_tls.pki import PkiStore
from tests.enrolment.helpers import Issued, JournalLog
from tests.enrolment.virtual_world import (
    BROKER_NAME,
    PLAIN_LISTENER,
    TLS_LISTENER,
    USER_RULE,
    BrokerFiles,
    World,
    discover,
    mqtt_settings,
    rule_slot,
    set_user_rule,
)
from tests.helpers.mosquitto import MosquittoBroker, free_port
from tests.helpers.plain_transport import PlainTransport
from virtual_tasmota import DeviceFaults, Fleet, VirtualDevice

Step = EnrolmentStep
SETTLE_TIMEOUT = 20.0  # bound on waiting for a device to be connected again
KNOWN_REASONS = {
    "no_tlskey_support",
    "auth_failed",
    "http_unreachable",
    "timeout",
    "command_error",
    "length_mismatch",
    "issue_failed",
    "unsupported_settings",
    "rolled_back",
    "rollback_unconfirmed",
    "mqtt_unavailable",
    "interrupted",
}


# ------------------------------------------------------------------------- world


@dataclass
class FaultWorld:
    """One broker, a fleet, the engine's transport; a World (virtual_world.py) per device."""

    broker: MosquittoBroker
    fleet: Fleet
    transport: PlainTransport
    worlds: list[World]


@pytest.fixture
def fault_world(
    tmp_path: Path,
    mosquitto_factory: Callable[..., MosquittoBroker],
    broker_files: BrokerFiles,
) -> Callable[..., contextlib.AbstractAsyncContextManager[FaultWorld]]:
    """``async with fault_world(count=20, seed="x") as fw:`` (sockets in test bodies only)."""

    @contextlib.asynccontextmanager
    async def make(
        *, count: int, seed: str, faults: DeviceFaults | None = None
    ) -> AsyncIterator[FaultWorld]:
        broker = mosquitto_factory(PLAIN_LISTENER + TLS_LISTENER % {"dir": broker_files.directory})
        http_port = free_port()
        fleet = Fleet(
            broker_host="127.0.0.1",
            broker_port=broker.ports["port"],
            state_dir=tmp_path / "fleet",
            count=count,
            http_port=http_port,
            trust_anchors_pem=broker_files.ca_pem,
            boot_delay=0.05,
            retry_delay=0.5,
            backlog_delay=0.01,
            restart_delay=0.05,
            rule_timer_scale=0.02,
            faults=faults,
            seed=seed,  # the same MACs every run, so a device's random faults repeat
        )
        async with PlainTransport("127.0.0.1", broker.ports["port"]) as transport, fleet:
            worlds = [
                World(
                    broker,
                    fleet,
                    transport,
                    await discover(transport, virtual.mac),
                    virtual,
                    broker.ports["port"],
                    broker.ports["tls_port"],
                    http_port,
                    broker_files,
                )
                for virtual in fleet.devices
            ]
            yield FaultWorld(broker, fleet, transport, worlds)

    return make


# ----------------------------------------------------------------------- checks


def status6(virtual: VirtualDevice) -> dict[str, Any]:
    reply = virtual.execute("Status 6")
    body: dict[str, Any] = json.loads(reply[0].payload)["StatusMQT"]
    return body


async def check_outcome(
    w: World,
    result: EnrolmentRecord | BaseException,
    issuer: Issued,
    journal: JournalLog,
    store: PkiStore,
    *,
    rule: tuple[str, int] = ("", 0),
) -> str:
    """Assert the device is enrolled or back where it was; return "done" or the reason.

    A failure the engine could not finish (the record left at a step, to resume) is
    resumed once the device is back, as the integration does at its next start.
    """
    virtual = w.virtual
    record: EnrolmentRecord
    if isinstance(result, EnrolmentError):
        assert result.reason in KNOWN_REASONS, result
        assert result.record is not None
        record = result.record
        # Back and connected (after the device's own rollback if the switch reached it).
        with contextlib.suppress(TimeoutError):
            await virtual.wait_state(lambda d: d.connected, SETTLE_TIMEOUT)
        if not record.finished:
            assert journal.last == record  # what is left to resume is journaled
            record = await Enroller(w.transport, w.options()).resume(w.device, record, journal)
            assert record.finished, record
    else:
        assert isinstance(result, EnrolmentRecord), repr(result)  # never another exception
        record = result
    if record.step == Step.DONE:
        assert virtual.tls_active, virtual.events[-10:]
        assert mqtt_settings(virtual) == (BROKER_NAME, w.tls_port, 1)
        assert status6(virtual)["MqttTLS"] == 1
        outcome = "done"
    else:
        assert record.step == Step.FAILED and record.reason in KNOWN_REASONS, record
        assert virtual.connected and not virtual.tls_active, (record.reason, virtual.events[-15:])
        assert mqtt_settings(virtual) == ("127.0.0.1", w.plain_port, 0), record.reason
        assert status6(virtual)["MqttTLS"] == 0
        outcome = record.reason
    assert rule_slot(virtual) == rule, outcome
    assert journal.last == record  # the journal holds the outcome the caller saw
    # Every certificate handed out is in the store's index and in the journal record.
    serials = {entry.serial for entry in store.entries()}
    assert len(issuer.credentials) <= 1
    for credential in issuer.credentials:
        assert credential.entry.serial in serials
        assert record.serial == credential.entry.serial
    if not issuer.credentials:
        assert record.serial is None
    for secret in issuer.secrets():
        assert secret not in journal.text()
    return outcome


# ------------------------------------------------------------------ broker restart


class RestartTrigger:
    """Stops the broker when the n-th device enters WAIT_ONLINE; starts it a second later."""

    def __init__(self, broker: MosquittoBroker, at: int) -> None:
        self.broker = broker
        self.at = at
        self.seen = 0
        self.task: asyncio.Task[None] | None = None
        self.finished_before = -1
        self.done: list[str] = []

    def note(self, record: EnrolmentRecord) -> None:
        if record.step == Step.WAIT_ONLINE:
            self.seen += 1
            if self.seen == self.at and self.task is None:
                self.finished_before = len(self.done)
                self.task = asyncio.create_task(self._restart())
        if record.step in (Step.DONE, Step.FAILED):
            self.done.append(record.mac)

    async def _restart(self) -> None:
        await asyncio.to_thread(self.broker.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self.broker.start)  # same ports, same configuration


class WatchedJournal(JournalLog):
    def __init__(self, trigger: RestartTrigger) -> None:
        super().__init__()
        self.trigger = trigger

    async def __call__(self, record: EnrolmentRecord) -> None:
        await super().__call__(record)
        self.trigger.note(record)


# Devices switched while the broker is away must still be watched to the end: the
# engine's client is disconnected then, so starting to listen fails until it is back.
async def test_broker_restart_in_the_middle_of_20_enrolments(
    fault_world: Any,
    make_issuer: Callable[[str, str], Issued],
    pki_store: PkiStore,
) -> None:
    async with fault_world(count=20, seed="fault-broker-restart") as fw:
        mark = fw.broker.log_mark()
        trigger = RestartTrigger(fw.broker, at=7)
        issuers = [w.issuer(make_issuer) for w in fw.worlds]
        journals = [WatchedJournal(trigger=trigger) for _ in fw.worlds]
        for w in fw.worlds[::4]:
            set_user_rule(w.virtual)  # a user's rule in the slot the rollback borrows
        gate = asyncio.Semaphore(5)

        async def enrol(w: World, issuer: Issued, journal: JournalLog) -> EnrolmentRecord:
            async with gate:
                # A rollback period long enough to outlast the broker's absence.
                options = w.options(rollback_minutes=5, wait_online_timeout=30.0)
                return await Enroller(fw.transport, options).enrol(w.device, issuer, journal)

        results = await asyncio.wait_for(
            asyncio.gather(
                *(enrol(*args) for args in zip(fw.worlds, issuers, journals, strict=True)),
                return_exceptions=True,
            ),
            timeout=120,
        )
        assert trigger.task is not None and trigger.task.done()
        trigger.task.result()
        # The restart happened with enrolments still under way on both sides of it.
        assert 0 <= trigger.finished_before < 20 - 5
        assert len(fw.broker.log_text()[mark:].split("mosquitto version")) >= 2

        outcomes = []
        for w, result, issuer, journal in zip(fw.worlds, results, issuers, journals, strict=True):
            rule = (USER_RULE, 1) if w in fw.worlds[::4] else ("", 0)
            outcomes.append(await check_outcome(w, result, issuer, journal, pki_store, rule=rule))
        # The broker's absence is no reason to give up on a device for good: most make it.
        assert outcomes.count("done") >= 15, outcomes


class BrokerOutage(JournalLog):
    """Stops the broker just after the switch was sent; starts it again a second later."""

    def __init__(self, broker: MosquittoBroker) -> None:
        super().__init__()
        self.broker = broker
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, record: EnrolmentRecord) -> None:
        await super().__call__(record)
        if record.step == Step.WAIT_ONLINE and self.task is None:
            await asyncio.to_thread(self.broker.stop)
            await asyncio.sleep(0.2)  # the engine's client has seen the connection go
            self.task = asyncio.create_task(self._back_later())

    async def _back_later(self) -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self.broker.start)


async def test_broker_down_as_the_engine_starts_watching(
    fault_world: Any,
    make_issuer: Callable[[str, str], Issued],
    pki_store: PkiStore,
) -> None:
    """The narrow case behind the restart test above, without any timing luck."""
    async with fault_world(count=1, seed="fault-broker-down") as fw:
        w = fw.worlds[0]
        issuer, journal = w.issuer(make_issuer), BrokerOutage(fw.broker)
        options = w.options(rollback_minutes=5, wait_online_timeout=30.0)
        try:
            try:
                result: EnrolmentRecord | BaseException = await Enroller(
                    fw.transport, options
                ).enrol(w.device, issuer, journal)
            except Exception as err:  # the outcome is judged below
                result = err
        finally:
            assert journal.task is not None
            await journal.task
        await check_outcome(w, result, issuer, journal, pki_store)


# ------------------------------------------------------------------ lost commands


@pytest.mark.parametrize("channel", ["http", "mqtt"])
async def test_device_losing_30_percent_of_commands(
    fault_world: Any,
    make_issuer: Callable[[str, str], Issued],
    pki_store: PkiStore,
    channel: str,
) -> None:
    """Over HTTP only the Status 6 polls are lost; over MQTT every command may be.

    The device's loss is seeded (Random(MAC), the MAC from the fleet's seed), but which
    command a draw hits depends on timing, so each attempt must end DONE or clean FAILED.
    """
    # Seeds picked so that the loss bites: over HTTP the first polls are lost, over MQTT
    # the TLSKey2 of the first attempt.
    seed = {"http": "fault-loss-http-0", "mqtt": "fault-loss-mqtt"}[channel]
    async with fault_world(count=1, seed=seed) as fw:
        w = fw.worlds[0]
        set_user_rule(w.virtual)
        w.virtual.faults = DeviceFaults(drop_command_fraction=0.3)
        options = w.options(channel=channel, step_timeout=1.5, wait_online_timeout=8.0)
        outcomes = []
        for _attempt in range(3):
            issuer, journal = w.issuer(make_issuer), JournalLog()
            try:
                result: EnrolmentRecord | BaseException = await Enroller(
                    fw.transport, options
                ).enrol(w.device, issuer, journal)
            except EnrolmentError as err:
                result = err
            outcomes.append(
                await check_outcome(w, result, issuer, journal, pki_store, rule=(USER_RULE, 1))
            )
            if outcomes[-1] == "done":
                break
        assert any("dropped" in line for line in w.virtual.events)  # the fault did bite
        if channel == "http":
            assert outcomes == ["done"]  # losing polls only delays the confirmation


async def test_failed_arm_gives_the_rule_slot_back(
    fault_world: Any,
    make_issuer: Callable[[str, str], Issued],
    pki_store: PkiStore,
) -> None:
    """Seeded loss over MQTT: 10 commands pass, ``Rule3 4`` of the arming is lost, and
    later ``Rule3 8`` of the disarm after it (the draws of Random(MAC) for this seed)."""
    async with fault_world(count=1, seed="fault-loss-mqtt-535") as fw:
        w = fw.worlds[0]
        set_user_rule(w.virtual)
        w.virtual.faults = DeviceFaults(drop_command_fraction=0.3)
        issuer, journal = w.issuer(make_issuer), JournalLog()
        options = w.options(channel="mqtt", step_timeout=1.5, wait_online_timeout=8.0)
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(fw.transport, options).enrol(w.device, issuer, journal)
        assert (caught.value.step, caught.value.reason) == (Step.ARM_ROLLBACK, "timeout")
        await check_outcome(w, caught.value, issuer, journal, pki_store, rule=(USER_RULE, 1))


# -------------------------------------------------- offline between TLSKey2 and switch


class PowerCut(JournalLog):
    """Cuts the device's power when the engine is about to run ``step``."""

    def __init__(self, virtual: VirtualDevice, step: EnrolmentStep, off_for: float) -> None:
        super().__init__()
        self.virtual, self.step, self.off_for = virtual, step, off_for
        self.cut = False

    async def __call__(self, record: EnrolmentRecord) -> None:
        await super().__call__(record)
        if record.step == self.step and not self.cut:
            self.cut = True
            await self.virtual.power_cycle(self.off_for)


@pytest.mark.parametrize("step", [Step.CONFIRM, Step.ARM_ROLLBACK, Step.SWITCH])
async def test_device_offline_between_tlskey2_and_the_switch(
    fault_world: Any,
    make_issuer: Callable[[str, str], Issued],
    pki_store: PkiStore,
    step: EnrolmentStep,
) -> None:
    async with fault_world(count=1, seed="fault-offline") as fw:
        w = fw.worlds[0]
        set_user_rule(w.virtual)
        issuer, journal = w.issuer(make_issuer), PowerCut(w.virtual, step, off_for=1.0)
        try:
            result: EnrolmentRecord | BaseException = await Enroller(
                fw.transport, w.options()
            ).enrol(w.device, issuer, journal)
        except EnrolmentError as err:
            result = err
        assert journal.cut
        assert any("Powered off" in line for line in w.virtual.events)
        outcome = await check_outcome(w, result, issuer, journal, pki_store, rule=(USER_RULE, 1))
        assert outcome != "rollback_unconfirmed"  # it came back in time to be seen
