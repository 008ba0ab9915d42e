"""Actions: enroll, renew, revoke, export_trust_anchor, export_broker_bundle."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from cryptography import x509
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.constants import MAC

from .actions import call
from .devices import discovered
from .helpers import collect_events, state_of, wait_for
from .install import PASSPHRASE, install
from .mqtt_bus import MqttBus
from .playback_device import answer_status6

TOPIC = "plug_abcdef"


@pytest.fixture
def engine_timing() -> EngineTiming:
    return EngineTiming(step_timeout=0.3, poll_interval=0.1, wait_online_timeout=1.0)


def issue_for_topic(store: PkiStore) -> None:
    store.issue_device(PASSPHRASE, TOPIC, topic=TOPIC, mac=MAC)


async def test_revoke(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass, prepare=issue_for_topic)
    entry_id = installed.entry.entry_id
    answer_status6(mqtt_bus, TOPIC, {"MqttHost": "h", "MqttPort": 8883, "MqttTLS": 1})
    device_id = await discovered(hass, mqtt_bus)
    events = collect_events(hass)
    issued = await hass.async_add_executor_job(installed.store.find, TOPIC)
    bundle = await call(hass, "export_broker_bundle", {})
    exported_crl = Path(bundle["files"]["crl"])

    response = await call(hass, "revoke", {"device_id": device_id, "reason": "key_compromise"})
    assert response == {"serial": issued.serial, "common_name": TOPIC}
    await wait_for(
        hass, lambda: state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "revoked"
    )
    crl = await hass.async_add_executor_job(installed.store.crl)
    assert crl is not None
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16)) is not None
    # The exported bundle's CRL follows: reloading the broker is all that is left.
    exported = await hass.async_add_executor_job(exported_crl.read_bytes)
    assert x509.load_pem_x509_crl(exported).get_revoked_certificate_by_serial_number(
        int(issued.serial, 16)
    )
    assert [e["type"] for e in events] == ["revoked"]
    assert events[0]["reason"] == "key_compromise"
    assert events[0]["device_id"] == device_id

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "revoke", {"device_id": device_id})
    assert err.value.translation_key == "not_enrolled"


async def test_unknown_and_absent_devices(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    await install(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": "nope"})
    assert err.value.translation_key == "device_not_found"
    device_id = await discovered(hass, mqtt_bus)
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", "")
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": device_id})
    assert err.value.translation_key == "device_not_discovered"


async def test_attended_custody_needs_the_passphrase(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    await install(hass, custody="attended")
    device_id = await discovered(hass, mqtt_bus)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": device_id})
    assert err.value.translation_key == "passphrase_required"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": device_id, "passphrase": "not it"})
    assert err.value.translation_key == "wrong_passphrase"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "renew", {"device_id": device_id, "passphrase": PASSPHRASE})
    assert err.value.translation_key == "not_enrolled"
    # The buttons cannot ask: they say so.
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": hass.states.async_entity_ids("button")[0]},
            blocking=True,
        )
    assert err.value.translation_key == "passphrase_required"


async def test_silent_device_times_out_and_busy_is_refused(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """A device that never answers fails at the first step with reason timeout."""
    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    device_id = await discovered(hass, mqtt_bus)
    events = collect_events(hass)
    await call(hass, "enrol", {"device_id": device_id})
    with pytest.raises(ServiceValidationError) as err:  # the old name is the same action
        await call(hass, "enroll", {"device_id": device_id})
    assert err.value.translation_key == "busy"
    assert state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "enrolling"
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    failed = next(e for e in events if e["type"] == "enrolment_failed")
    assert (failed["step"], failed["reason"]) == ("issue", "timeout")
    assert state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "failed"


async def test_fingerprint_mode_needs_a_broker_certificate(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, broker_host=None)
    issue_id = f"broker_certificate_missing_{installed.entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    device_id = await discovered(hass, mqtt_bus)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": device_id})
    assert err.value.translation_key == "broker_certificate_missing"
    # Exporting the bundle issues the broker certificate, and the repair goes at once.
    response = await call(hass, "export_broker_bundle", {})
    assert response["new_broker_key"] is True
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_export_trust_anchor(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass)
    response = await call(hass, "export_trust_anchor", {})
    files = response["files"]
    assert [path.rsplit("/", 1)[1] for path in files] == [
        "local_ca_data.h",
        "local_ca_descriptor.h",
        "user_config_override_snippet.h",
    ]
    assert all(f"tasmota_tls/{installed.entry.entry_id}/firmware/" in path for path in files)
    ca = await hass.async_add_executor_job(installed.store.ca_certificate)
    data_h, descriptor_h = firmware_headers(ca)
    with open(files[0]) as data, open(files[1]) as descriptor:  # noqa: ASYNC230
        assert (data.read(), descriptor.read()) == (data_h, descriptor_h)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "export_trust_anchor", {"config_entry_id": "other"})
    assert err.value.translation_key == "entry_not_found"


async def test_export_broker_bundle_rotates_the_key_without_cutting_devices_off(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, prepare=issue_for_topic)
    entry = installed.entry
    await discovered(hass, mqtt_bus)
    old_fingerprint = installed.broker_fingerprint

    response = await call(hass, "export_broker_bundle", {})
    assert response["new_broker_key"] is False  # the current certificate names the host
    assert response["next_fingerprint_sent_to"] == []
    assert set(response["files"]) == {"ca", "cert", "key", "crl", "acl", "conf", "readme"}
    with open(response["files"]["acl"]) as acl:  # noqa: ASYNC230
        assert f"user {TOPIC}" in acl.read()

    # The broker gets a new name and, asked for, a new key: devices learn it first.
    hass.config_entries.async_update_entry(entry, data={**entry.data, "broker_host": "new.lan"})
    await hass.async_block_till_done()  # reloaded: the device is discovered again
    await wait_for(hass, lambda: MAC in entry.runtime_data.view.devices)
    mqtt_bus.published.clear()
    response = await call(hass, "export_broker_bundle", {"layout": "ha-addon", "rotate_key": True})
    assert response["new_broker_key"] is True
    assert response["next_fingerprint_sent_to"] == [MAC]
    broker = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert broker is not None
    new_fingerprint = tasmota_fingerprint(broker)
    assert new_fingerprint != old_fingerprint
    assert (f"cmnd/{TOPIC}/MqttFingerprint2", new_fingerprint, False) in mqtt_bus.published
    san = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "new.lan" in san.get_values_for_type(x509.DNSName)
    # New enrolments pin the new key and keep the old one as the next.
    options = entry.runtime_data.operations.enrolment_options()
    assert options.fingerprint == new_fingerprint
    assert options.next_fingerprint == old_fingerprint


async def test_export_failure_is_translated(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    await install(hass)
    with (
        patch(
            "custom_components.tasmota_tls.export.atomic_write", side_effect=OSError("disk full")
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "export_trust_anchor", {})
    assert err.value.translation_key == "export_failed"


async def test_revoke_an_older_certificate_by_serial(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    serials: list[str] = []

    def two_and_another(store: PkiStore) -> None:
        for name, mac in ((TOPIC, MAC), (TOPIC, MAC), ("other_device", "A4CF12000001")):
            serials.append(store.issue_device(PASSPHRASE, name, topic=name, mac=mac).entry.serial)

    installed = await install(hass, prepare=two_and_another)
    device_id = await discovered(hass, mqtt_bus)
    older, newer, foreign = serials
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "revoke", {"device_id": device_id, "serial": foreign})
    assert err.value.translation_key == "not_enrolled"
    response = await call(
        hass, "revoke", {"device_id": device_id, "serial": older.upper(), "reason": "superseded"}
    )
    assert response["serial"] == older
    entries = {e.serial: e for e in await hass.async_add_executor_job(installed.store.entries)}
    assert (entries[older].status, entries[newer].status, entries[foreign].status) == (
        "revoked",
        "valid",
        "valid",
    )


async def test_unexpected_error_still_ends_as_a_failure(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, options={"channel": "mqtt"})
    device_id = await discovered(hass, mqtt_bus)
    events = collect_events(hass)
    with patch(
        "custom_components.tasmota_tls.operations.jobs.Enroller.enrol",
        side_effect=RuntimeError("bug"),
    ):
        await call(hass, "enrol", {"device_id": device_id})
        await wait_for(hass, lambda: bool(events))
    assert events[0]["type"] == "enrolment_failed"
    assert events[0]["reason"] == "internal_error"
    entry_id = installed.entry.entry_id
    state = state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status")
    assert (state.state, state.attributes["failure_reason"]) == ("failed", "internal_error")
