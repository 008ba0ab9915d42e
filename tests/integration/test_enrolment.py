"""Enrolment driven by discovery, with a device answering like Tasmota over the mocked bus."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.tasmota_tls.const import DOMAIN, FIRMWARE_DOCS_URL
from custom_components.tasmota_tls.enrolment import EnrolmentRecord, EnrolmentStep
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.constants import MAC

from .helpers import collect_events, device_of, state_of, wait_for
from .install import BROKER_HOST, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice

TOPIC = "tasmota_ABCDEF"
MQTT_CHANNEL = {"channel": "mqtt"}


def status(hass: HomeAssistant, entry_id: str) -> str:
    return state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state


def playback(bus: MqttBus, fingerprint: str, **kwargs: Any) -> PlaybackDevice:
    broker = BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint, **kwargs)
    return PlaybackDevice(bus, broker, mac=MAC)


async def press(hass: HomeAssistant, entry_id: str, key: str) -> None:
    from .helpers import entity_id

    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity_id(hass, "button", f"{entry_id}_{MAC}_{key}")},
        blocking=True,
    )


async def test_enrol_from_discovery_to_tls(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """Discovery adds the device; Enrol loads key and certificate and switches it to TLS."""
    installed = await install(hass, options=MQTT_CHANNEL)
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    device = playback(mqtt_bus, installed.broker_fingerprint)
    device.announce()
    await wait_for(hass, lambda: hass.states.async_entity_ids("button") != [])
    await wait_for(hass, lambda: status(hass, entry_id) == "not_enrolled")

    await press(hass, entry_id, "enrol")
    await wait_for(hass, lambda: status(hass, entry_id) == "connected_tls")

    # The device holds its key and certificate and was switched as the engine asked.
    settings = device.settings
    assert settings.tlskey1 is not None and len(settings.tlskey1) == 32
    assert settings.setoption103 == 1
    assert settings.setoption132 == 1
    assert settings.mqtt_host == BROKER_HOST
    assert settings.mqtt_port == 8883
    assert settings.fingerprint1 == installed.broker_fingerprint.replace(" ", "")
    assert device.tls_active

    # The certificate is the store's newest for the device's topic.
    issued = await hass.async_add_executor_job(installed.store.find, TOPIC)
    expiry = state_of(hass, "sensor", f"{entry_id}_{MAC}_certificate_expiry")
    assert expiry.state == issued.not_after.isoformat()
    tls_status = state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status")
    assert tls_status.attributes["serial"] == issued.serial
    assert tls_status.attributes["validation_mode"] == "fingerprint"
    assert tls_status.attributes["fingerprint"] == installed.broker_fingerprint
    assert state_of(hass, "binary_sensor", f"{entry_id}_{MAC}_tls_connected").state == "on"
    assert state_of(hass, "sensor", f"{entry_id}_enrolled_devices").state == "1"

    # The journal kept every step and ends at DONE with the serial.
    journal = hass_storage[f"{DOMAIN}.{entry_id}.journal"]["data"]
    assert journal["records"][MAC]["step"] == "done"
    assert journal["certificates"][MAC] == issued.serial

    device_id = device_of(hass, MAC)
    assert device_id is not None
    enrolled = [e for e in events if e["type"] == "enrolled"]
    assert enrolled == [
        {
            "device_id": device_id.id,
            "mac": MAC,
            "type": "enrolled",
            "serial": issued.serial,
            "previous_serial": None,
        }
    ]


async def test_stock_firmware_is_reported(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    """Without TLSKey the enrolment fails at its first step, with a repair and a link."""
    installed = await install(hass, options=MQTT_CHANNEL)
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    device = playback(mqtt_bus, installed.broker_fingerprint)
    device.faults.no_tlskey = True
    device.announce()
    await wait_for(hass, lambda: hass.states.async_entity_ids("button") != [])

    await press(hass, entry_id, "enrol")
    await wait_for(hass, lambda: status(hass, entry_id) == "failed")

    state = state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status")
    assert state.attributes["failure_reason"] == "no_tlskey_support"
    assert state.attributes["failed_step"] == "issue"
    failed = [e for e in events if e["type"] == "enrolment_failed"]
    assert len(failed) == 1
    assert failed[0]["reason"] == "no_tlskey_support"
    assert failed[0]["step"] == "issue"
    assert failed[0]["help_url"] == FIRMWARE_DOCS_URL
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"no_tlskey_support_{entry_id}_{MAC}")
    assert issue is not None
    assert issue.learn_more_url == FIRMWARE_DOCS_URL
    # Nothing was switched, no certificate was issued.
    assert device.settings.setoption103 == 0
    assert device.settings.mqtt_host == "mqtt-plain.lan"
    entries = await hass.async_add_executor_job(installed.store.entries)
    assert [e for e in entries if e.kind == "device"] == []


async def test_restart_mid_enrolment_is_resumed(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """A journal left at WAIT_ONLINE is finished after a restart, not forgotten."""
    serial: dict[str, str] = {}

    def issue(store: PkiStore) -> None:
        credential = store.issue_device(
            "unattended passphrase", TOPIC, topic=TOPIC, command_topic=f"cmnd/{TOPIC}/TLSKey2"
        )
        serial["value"] = credential.entry.serial

    # The device had been switched before Home Assistant went down.
    record = EnrolmentRecord.start(MAC)
    record.step = EnrolmentStep.WAIT_ONLINE
    record.switched_at = record.started_at
    record.previous = {
        "mqtt_host": "mqtt-plain.lan",
        "mqtt_port": 1883,
        "tls": False,
        "fingerprint_validation": False,
        "fingerprint1": None,
        "rule": {"text": "", "enabled": False, "once": False, "stop_on_error": False},
    }
    events = collect_events(hass)
    with patch.dict(hass_storage, {}):
        installed = await install(hass, options=MQTT_CHANNEL, prepare=issue)
        entry_id = installed.entry.entry_id
        await hass.config_entries.async_unload(entry_id)
        record.serial = serial["value"]
        hass_storage[f"{DOMAIN}.{entry_id}.journal"] = {
            "version": 1,
            "minor_version": 1,
            "key": f"{DOMAIN}.{entry_id}.journal",
            "data": {"records": {MAC: record.to_dict()}, "certificates": {}, "names": {}},
        }
        device = playback(mqtt_bus, installed.broker_fingerprint)
        s = device.settings
        s.mqtt_host, s.mqtt_port, s.setoption103, s.setoption132 = BROKER_HOST, 8883, 1, 1
        s.fingerprint1 = installed.broker_fingerprint.replace(" ", "")
        s.tlskey1, s.tlskey2 = b"\x01" * 32, b"\x30" * 400
        device._tls = True
        device.announce()
        assert await hass.config_entries.async_setup(entry_id)
        await wait_for(hass, lambda: any(e["type"] == "enrolled" for e in events))
        await wait_for(hass, lambda: status(hass, entry_id) == "connected_tls")
        journal = hass_storage[f"{DOMAIN}.{entry_id}.journal"]["data"]
        assert journal["records"][MAC]["step"] == "done"
        assert journal["certificates"][MAC] == serial["value"]


async def test_pending_enrolment_of_vanished_device_is_marked_failed(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    record = EnrolmentRecord.start(MAC)
    record.step = EnrolmentStep.SEND_CERT
    events = collect_events(hass)
    with patch(
        "custom_components.tasmota_tls.operations.runner.RESUME_GRACE", timedelta(seconds=0.05)
    ):
        installed = await install(hass, options=MQTT_CHANNEL)
        entry_id = installed.entry.entry_id
        await hass.config_entries.async_unload(entry_id)
        hass_storage[f"{DOMAIN}.{entry_id}.journal"] = {
            "version": 1,
            "minor_version": 1,
            "key": f"{DOMAIN}.{entry_id}.journal",
            "data": {"records": {MAC: record.to_dict()}, "certificates": {}, "names": {}},
        }
        assert await hass.config_entries.async_setup(entry_id)
        await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    failed = next(e for e in events if e["type"] == "enrolment_failed")
    assert failed["reason"] == "device_not_found"
    assert failed["step"] == "send_cert"
    journal = hass_storage[f"{DOMAIN}.{entry_id}.journal"]["data"]
    assert journal["records"][MAC]["step"] == "failed"
    assert journal["records"][MAC]["failed_step"] == "send_cert"


async def test_auto_enrol_new_devices_once(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    """With auto-enrol on, a new device is enrolled without a press; a failure is not retried."""
    installed = await install(hass, options={**MQTT_CHANNEL, "auto_enrol": True})
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    device = playback(mqtt_bus, installed.broker_fingerprint)
    device.announce()
    await wait_for(hass, lambda: any(e["type"] == "enrolled" for e in events))
    await wait_for(hass, lambda: status(hass, entry_id) == "connected_tls")
    assert device.tls_active

    # A second device on stock firmware fails once and is left alone afterwards.
    other = PlaybackDevice(
        mqtt_bus,
        BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, installed.broker_fingerprint),
        mac="A4CF12000001",
    )
    other.faults.no_tlskey = True
    other.announce()
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    tlskey_queries = other.commands_seen.count("TLSKey")
    await hass.config_entries.async_reload(entry_id)
    await hass.async_block_till_done()
    await wait_for(hass, lambda: "A4CF12000001" in installed.entry.runtime_data.view.devices)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert other.commands_seen.count("TLSKey") == tlskey_queries


def test_certificate_name_is_the_topic_when_it_can_be() -> None:
    from custom_components.tasmota_tls.discovery import parse_discovery_config
    from custom_components.tasmota_tls.naming import certificate_name

    from .install import discovery_payload

    assert certificate_name(parse_discovery_config(discovery_payload(t="plug_1"))) == "plug_1"
    odd = parse_discovery_config(discovery_payload(t="kitchen plug"))
    assert certificate_name(odd) == "tasmota-A4CF12ABCDEF"


async def test_exported_bundle_follows_enrolment_and_revocation(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """An exported ACL names the device before its switch, and drops it once revoked."""
    installed = await install(hass, options=MQTT_CHANNEL)
    entry_id = installed.entry.entry_id
    bundle: Any = await hass.services.async_call(
        DOMAIN, "export_broker_bundle", {}, blocking=True, return_response=True
    )
    acl_path = Path(bundle["files"]["acl"])

    def acl() -> str:
        return acl_path.read_text()

    assert f"user {TOPIC}" not in await hass.async_add_executor_job(acl)
    device = playback(mqtt_bus, installed.broker_fingerprint)
    seen_in_acl_at_switch: list[bool] = []
    original = device._on_publish

    def spy(topic: str, payload: str) -> list[tuple[str, str]] | None:
        if topic.endswith("/Backlog") and "SetOption103 1" in payload:
            seen_in_acl_at_switch.append(f"user {TOPIC}" in acl_path.read_text())
        return original(topic, payload)

    mqtt_bus.responders[mqtt_bus.responders.index(original)] = spy
    device.announce()
    await wait_for(hass, lambda: hass.states.async_entity_ids("button") != [])
    await press(hass, entry_id, "enrol")
    await wait_for(hass, lambda: status(hass, entry_id) == "connected_tls")
    assert seen_in_acl_at_switch == [True]

    device_entry = device_of(hass, MAC)
    assert device_entry is not None
    await hass.services.async_call(
        DOMAIN, "revoke", {"device_id": device_entry.id}, blocking=True, return_response=True
    )
    assert f"user {TOPIC}" not in await hass.async_add_executor_job(acl)


async def test_resume_that_finds_the_device_rolled_back_is_reported(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """After a restart the device is back on its old settings: failed, with the reason."""
    record = EnrolmentRecord.start(MAC)
    record.step = EnrolmentStep.WAIT_ONLINE
    record.switched_at = record.started_at
    record.previous = {
        "mqtt_host": "mqtt-plain.lan",
        "mqtt_port": 1883,
        "tls": False,
        "fingerprint_validation": False,
        "fingerprint1": None,
        "rule": {"text": "", "enabled": False, "once": False, "stop_on_error": False},
    }
    events = collect_events(hass)
    installed = await install(hass, options=MQTT_CHANNEL)
    entry_id = installed.entry.entry_id
    await hass.config_entries.async_unload(entry_id)
    hass_storage[f"{DOMAIN}.{entry_id}.journal"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry_id}.journal",
        "data": {"records": {MAC: record.to_dict()}, "certificates": {}, "names": {}},
    }
    playback(mqtt_bus, installed.broker_fingerprint).announce()  # on its old settings
    assert await hass.config_entries.async_setup(entry_id)
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    failed = next(e for e in events if e["type"] == "enrolment_failed")
    assert (failed["step"], failed["reason"]) == ("wait_online", "rolled_back")
    await wait_for(hass, lambda: status(hass, entry_id) == "failed")


async def test_broken_off_after_the_switch_is_looked_at_again(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """An unexpected error after the switch keeps the record; a later resume finishes it."""
    from custom_components.tasmota_tls.enrolment import TransportError

    serial: dict[str, str] = {}

    def issue(store: PkiStore) -> None:
        credential = store.issue_device("unattended passphrase", TOPIC, topic=TOPIC)
        serial["value"] = credential.entry.serial

    installed = await install(hass, options=MQTT_CHANNEL, prepare=issue)
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    device = playback(mqtt_bus, installed.broker_fingerprint)
    s = device.settings
    s.mqtt_host, s.mqtt_port, s.setoption103, s.setoption132 = BROKER_HOST, 8883, 1, 1
    s.fingerprint1 = installed.broker_fingerprint.replace(" ", "")
    s.tlskey1, s.tlskey2 = b"\x01" * 32, b"\x30" * 400
    device._tls = True
    device.announce()
    await wait_for(hass, lambda: hass.states.async_entity_ids("button") != [])

    async def switched_then_broken(
        self: Any, device: Any, issue: Any, journal: Any
    ) -> EnrolmentRecord:
        record = EnrolmentRecord.start(MAC)
        record.serial = serial["value"]
        record.previous = {
            "mqtt_host": "mqtt-plain.lan",
            "mqtt_port": 1883,
            "tls": False,
            "fingerprint_validation": False,
            "fingerprint1": None,
            "rule": {"text": "", "enabled": False, "once": False, "stop_on_error": False},
        }
        record.step, record.switched_at = EnrolmentStep.WAIT_ONLINE, record.started_at
        await journal(record)
        raise TransportError("mqtt", "no SUBACK")

    with patch(
        "custom_components.tasmota_tls.operations.jobs.Enroller.enrol", switched_then_broken
    ):
        await press(hass, entry_id, "enrol")
        await hass.async_block_till_done(wait_background_tasks=True)
    assert status(hass, entry_id) == "enrolling"
    assert not any(e["type"] == "enrolment_failed" for e in events)

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await wait_for(hass, lambda: any(e["type"] == "enrolled" for e in events))
    await wait_for(hass, lambda: status(hass, entry_id) == "connected_tls")
    journal = hass_storage[f"{DOMAIN}.{entry_id}.journal"]["data"]
    assert journal["records"][MAC]["step"] == "done"
