"""resume() after a restart, against a scripted firmware: from every journaled step."""

from __future__ import annotations

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentRecord, EnrolmentStep

from .fake_firmware import FakeTasmota, Rule
from .helpers import JournalLog
from .scripted import BROKER, DEVICE, TLS_PORT, USER_RULE, options


def record_at(step: EnrolmentStep, previous: dict[str, object]) -> EnrolmentRecord:
    record = EnrolmentRecord.start(DEVICE.mac)
    record.step = step
    record.serial = "abc123"
    record.previous = previous
    return record


PREVIOUS = {
    "mqtt_host": "127.0.0.1",
    "mqtt_port": 1883,
    "tls": False,
    "fingerprint_validation": False,
    "fingerprint1": None,
    "rule": {"text": USER_RULE, "enabled": True, "once": False, "stop_on_error": False},
}


async def test_resume_finds_the_device_on_tls_and_disarms(journal: JournalLog) -> None:
    firmware = FakeTasmota(mqtt_port=TLS_PORT, so103=True, connected=True)
    firmware.rules[2] = Rule(text="ON System#Init DO RuleTimer3 60 ENDON", enabled=True)
    record = await Enroller(firmware, options()).resume(
        DEVICE, record_at(EnrolmentStep.WAIT_ONLINE, PREVIOUS), journal
    )
    await firmware.close()
    assert record.step == EnrolmentStep.DONE
    assert firmware.rules[2] == Rule(text=USER_RULE, enabled=True)
    assert journal.steps[-2:] == ["disarm", "done"]


async def test_resume_after_rollback_marks_failed(journal: JournalLog) -> None:
    firmware = FakeTasmota(connected=True)  # back on 1883 plain
    record = await Enroller(firmware, options()).resume(
        DEVICE, record_at(EnrolmentStep.SWITCH, PREVIOUS), journal
    )
    await firmware.close()
    assert record.step == EnrolmentStep.FAILED and record.reason == "rolled_back"
    assert firmware.rules[2] == Rule(text=USER_RULE, enabled=True)


async def test_resume_while_armed_disarms(journal: JournalLog) -> None:
    firmware = FakeTasmota()
    firmware.rules[2] = Rule(text="ON System#Init DO RuleTimer3 60 ENDON", enabled=True)
    record = await Enroller(firmware, options()).resume(
        DEVICE, record_at(EnrolmentStep.ARM_ROLLBACK, PREVIOUS), journal
    )
    assert record.step == EnrolmentStep.FAILED and record.reason == "interrupted"
    assert firmware.rules[2] == Rule(text=USER_RULE, enabled=True)


async def test_resume_before_the_switch_only_marks_failed(journal: JournalLog) -> None:
    firmware = FakeTasmota()
    record = await Enroller(firmware, options()).resume(
        DEVICE, record_at(EnrolmentStep.SEND_CERT, PREVIOUS), journal
    )
    assert record.step == EnrolmentStep.FAILED and record.reason == "interrupted"
    assert record.failed_step == EnrolmentStep.SEND_CERT
    assert firmware.http_commands == [] and journal.last.step == EnrolmentStep.FAILED


async def test_resume_with_a_damaged_record_marks_failed(journal: JournalLog) -> None:
    firmware = FakeTasmota()
    damaged = record_at(EnrolmentStep.WAIT_ONLINE, {"mqtt_host": "127.0.0.1"})
    record = await Enroller(firmware, options()).resume(DEVICE, damaged, journal)
    assert record.step == EnrolmentStep.FAILED and record.reason == "interrupted"


async def test_resume_of_a_finished_record_does_nothing(journal: JournalLog) -> None:
    firmware = FakeTasmota()
    done = record_at(EnrolmentStep.DONE, PREVIOUS)
    assert await Enroller(firmware, options()).resume(DEVICE, done, journal) == done
    assert journal.saved == [] and firmware.http_commands == []


async def test_record_round_trips_through_json() -> None:
    record = record_at(EnrolmentStep.WAIT_ONLINE, PREVIOUS)
    record.failed_step = EnrolmentStep.SWITCH
    assert EnrolmentRecord.from_dict(record.to_dict() | {"future_field": 1}) == record


async def test_resume_of_a_renewal(journal: JournalLog) -> None:
    firmware = FakeTasmota(mqtt_port=TLS_PORT, so103=True, key_len=32, cert_len=400)
    record = EnrolmentRecord.start(DEVICE.mac, operation="renew")
    record.previous = {"mqtt_host": BROKER, "mqtt_port": TLS_PORT}
    record.step = EnrolmentStep.WAIT_ONLINE
    finished = await Enroller(firmware, options()).resume(DEVICE, record, journal)
    assert finished.step == EnrolmentStep.DONE

    record.step = EnrolmentStep.SEND_CERT
    interrupted = await Enroller(firmware, options()).resume(DEVICE, record, journal)
    assert interrupted.step == EnrolmentStep.FAILED and interrupted.reason == "interrupted"
    await firmware.close()
