"""The engine against virtual Tasmota devices on a real Mosquitto with a real TLS listener.

Credentials come from the PKI core; the broker, device and transport come from
virtual_world.py (fixture ``world``).
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import (
    Enroller,
    EnrolmentError,
    EnrolmentRecord,
    EnrolmentStep,
)
from virtual_tasmota import DeviceFaults

from .helpers import JournalLog
from .virtual_world import BROKER_NAME, USER_RULE, mqtt_settings, rule_slot, set_user_rule


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
        # The key never crossed the broker: no PUBLISH on the TLSKey topics at all.
        log = w.broker.log_text()
        assert "'cmnd/" in log  # (the log does list publications: Status 6 queries)
        for command in ("TLSKey1", "TLSKey2"):
            assert f"'{w.device.command_topic(command)}'" not in log


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


async def test_broker_not_trusted_rolls_back(
    world: Any, make_issuer: Any, journal: JournalLog
) -> None:
    """The TLS listener is up, but the device refuses the broker (no local CA in its build)."""
    async with world(faults=DeviceFaults(reject_tls=True)) as w:
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, w.options(validation="ca", fingerprint=None)).enrol(
                w.device, w.issuer(make_issuer), journal
            )
        assert caught.value.reason == "rolled_back"
        assert w.virtual.connected and not w.virtual.tls_active
        assert mqtt_settings(w.virtual) == ("127.0.0.1", w.plain_port, 0)


class VanishingJournal(JournalLog):
    """Powers the device off for good right after the switch was sent."""

    def __init__(self, device: Any) -> None:
        super().__init__()
        self.device = device

    async def __call__(self, record: EnrolmentRecord) -> None:
        await super().__call__(record)
        if record.step == EnrolmentStep.WAIT_ONLINE:
            await self.device.stop()


async def test_device_never_seen_again_is_not_called_rolled_back(
    world: Any, make_issuer: Any
) -> None:
    async with world() as w:
        journal = VanishingJournal(w.virtual)
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, w.options(wait_online_timeout=2.0)).enrol(
                w.device, w.issuer(make_issuer), journal
            )
        assert caught.value.reason == "rollback_unconfirmed"
        assert journal.last.step == EnrolmentStep.FAILED


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
