"""Enrolment against a scripted firmware (tests/enrolment/fake_firmware.py).

Fast checks of every branch of enrol(): the steps up to the switch (steps.py) and the
wait after it (waits.py). The real-broker tests (test_engine_virtual.py) prove the same
flows against virtual_tasmota on Mosquitto with TLS; resume and renew have their own
modules.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentError, EnrolmentStep
from custom_components.tasmota_tls.pki import SizeLimitError

from .fake_firmware import FakeTasmota, Rule
from .helpers import Issued, JournalLog, device_for
from .scripted import (
    BROKER,
    DEVICE,
    FINGERPRINT,
    TLS_PORT,
    USER_RULE,
    assert_no_secrets,
    options,
    plain_only,
    tls_only,
)


@pytest.fixture
async def firmware() -> AsyncIterator[FakeTasmota]:
    fake = FakeTasmota(accepts=tls_only)
    fake.rules[2] = Rule(text=USER_RULE, enabled=True)
    yield fake
    await fake.close()


async def test_happy_path_over_http(
    firmware: FakeTasmota, issuer: Issued, journal: JournalLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record = await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)

    assert record.step == EnrolmentStep.DONE
    assert firmware.tls_active and firmware.connected
    assert (firmware.mqtt_host, firmware.mqtt_port, firmware.so103) == (BROKER, TLS_PORT, True)
    assert firmware.so132 and firmware.fingerprint1 == FINGERPRINT
    credential = issuer.credentials[0]
    assert credential.payloads is not None
    assert (firmware.key_len, firmware.cert_len) == (32, credential.payloads.der_bytes)
    # The rule slot holds the user's rule again, enabled as before.
    assert firmware.rules[2] == Rule(text=USER_RULE, enabled=True)
    assert journal.steps == [
        "issue",
        "send_key",
        "send_cert",
        "confirm",
        "arm_rollback",
        "switch",
        "wait_online",
        "disarm",
        "done",
    ]
    assert record.serial == credential.entry.serial
    assert record.previous["mqtt_port"] == 1883 and record.previous["tls"] is False
    assert record.previous["rule"]["text"] == USER_RULE
    # The key went over HTTP only, never through the broker.
    assert not any(topic.endswith(("TLSKey1", "TLSKey2")) for topic, _ in firmware.published)
    assert_no_secrets(issuer, journal.text(), caplog.text, repr(record))


async def test_rollback_rule_is_armed_before_the_switch(
    firmware: FakeTasmota, issuer: Issued, journal: JournalLog
) -> None:
    await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)
    commands = firmware.http_commands
    arm = next(i for i, c in enumerate(commands) if c.startswith("Rule3 ON System#Init"))
    enable = commands.index("Rule3 1", arm)
    switch = next(i for i, c in enumerate(commands) if c.startswith("Backlog MqttHost"))
    assert arm < enable < switch
    rule = commands[arm]
    assert "RuleTimer3 60 ENDON" in rule
    assert "ON Mqtt#Connected DO RuleTimer3 0 ENDON" in rule
    assert rule.endswith(
        "ON Rules#Timer=3 DO Backlog Rule3 0; MqttHost 127.0.0.1; MqttPort 1883; "
        "SetOption132 0; SetOption103 0 ENDON"
    )
    assert commands[switch] == (
        f"Backlog MqttHost {BROKER}; MqttPort {TLS_PORT}; SetOption132 1; "
        f"MqttFingerprint1 {FINGERPRINT}; SetOption103 1"
    )


async def test_tls_refused_rolls_back(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(accepts=plain_only)
    firmware.rules[2] = Rule(text=USER_RULE, enabled=True, once=True)
    try:
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)
    finally:
        await firmware.close()

    assert caught.value.reason == "rolled_back"
    assert caught.value.step == EnrolmentStep.WAIT_ONLINE
    assert firmware.connected and not firmware.tls_active
    assert (firmware.mqtt_host, firmware.mqtt_port, firmware.so103) == ("127.0.0.1", 1883, False)
    assert firmware.restarts == 2  # the switch, then the rule's restore
    assert firmware.rules[2] == Rule(text=USER_RULE, enabled=True, once=True)
    last = journal.last
    assert last.step == EnrolmentStep.FAILED and last.reason == "rolled_back"
    assert last.failed_step == EnrolmentStep.WAIT_ONLINE
    assert caught.value.record == last


async def test_stock_firmware_is_refused_before_anything_changes(
    issuer: Issued, journal: JournalLog
) -> None:
    firmware = FakeTasmota(tlskey=False)
    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)
    assert caught.value.reason == "no_tlskey_support"
    assert issuer.credentials == []  # no certificate issued for a device that cannot use it
    assert firmware.http_commands == ["TLSKey"]
    assert firmware.restarts == 0 and firmware.mqtt_port == 1883
    assert journal.last.step == EnrolmentStep.FAILED


async def test_size_guard_of_the_issuer_is_reported(journal: JournalLog) -> None:
    firmware = FakeTasmota()

    async def too_large() -> Any:
        raise SizeLimitError("too large for the slot", code="certificate_too_large")

    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).enrol(DEVICE, too_large, journal)
    assert (caught.value.step, caught.value.reason) == (
        EnrolmentStep.ISSUE,
        "certificate_too_large",
    )
    assert firmware.key_len == -1 and firmware.restarts == 0
    assert not any(c.startswith(("TLSKey1", "Rule3 ON", "Backlog")) for c in firmware.http_commands)


async def test_web_password(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(accepts=tls_only, web_password="s3cret&=+")
    try:
        record = await Enroller(firmware, options(web_password="s3cret&=+")).enrol(
            DEVICE, issuer, journal
        )
    finally:
        await firmware.close()
    assert record.step == EnrolmentStep.DONE
    assert "s3cret" not in journal.text()


async def test_wrong_web_password_is_auth_failed(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(web_password="right")
    opts = options(web_password="wrong")
    assert "wrong" not in repr(opts)
    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, opts).enrol(DEVICE, issuer, journal)
    assert caught.value.reason == "auth_failed"
    assert firmware.restarts == 0


async def test_mqtt_channel(firmware: FakeTasmota, issuer: Issued, journal: JournalLog) -> None:
    record = await Enroller(firmware, options(channel="mqtt")).enrol(DEVICE, issuer, journal)
    assert record.step == EnrolmentStep.DONE
    assert firmware.http_commands == []
    topics = [topic for topic, _ in firmware.published]
    assert "cmnd/plug/TLSKey1" in topics and "cmnd/plug/TLSKey2" in topics
    assert firmware.tls_active and firmware.rules[2].text == USER_RULE


async def test_truncated_certificate_is_a_length_mismatch(
    issuer: Issued, journal: JournalLog
) -> None:
    firmware = FakeTasmota(cert_cap=300)
    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)
    assert caught.value.reason == "length_mismatch"
    assert caught.value.step == EnrolmentStep.SEND_CERT
    assert firmware.restarts == 0 and not firmware.rules[2].enabled
    assert not any(c.startswith("Rule3 ON") for c in firmware.http_commands)


async def test_ca_mode_switch(firmware: FakeTasmota, issuer: Issued, journal: JournalLog) -> None:
    opts = options(validation="ca", fingerprint=None)
    await Enroller(firmware, opts).enrol(DEVICE, issuer, journal)
    assert f"Backlog MqttHost {BROKER}; MqttPort {TLS_PORT}; SetOption132 0; SetOption103 1" in (
        firmware.http_commands
    )
    assert firmware.tls_active and not firmware.so132


async def test_old_firmware_without_mqtttls_field(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(accepts=tls_only, has_mqtt_tls_field=False)
    try:
        record = await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)
    finally:
        await firmware.close()
    assert record.step == EnrolmentStep.DONE and firmware.tls_active


async def test_device_unreachable_over_http(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota()
    elsewhere = device_for("plug", "127.0.0.9")
    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).enrol(elsewhere, issuer, journal)
    assert caught.value.reason == "http_unreachable"
