"""Renewal inside the window, CRL upkeep, expiry events and repairs."""

from __future__ import annotations

import datetime as dt
import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.secret_store import secrets_path, write_secrets
from tests.helpers.constants import MAC

from .actions import start_fix, submit_fix
from .helpers import collect_events, state_of, wait_for
from .install import (
    BROKER_HOST,
    PASSPHRASE,
    TOPIC,
    discovery_payload,
    install,
    issue_short_lived,
)
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice, answer_status6


def issue(hass: HomeAssistant, kind: str, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}")


async def next_check(hass: HomeAssistant) -> None:
    """Let the lifecycle's timer fire."""
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(hours=1, minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_ca_near_expiry_is_a_repair(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass, ca_days=30)
    found = issue(hass, "ca_expiring", installed.entry.entry_id)
    assert found is not None
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["name"] == "Test CA"


async def test_crl_is_renewed_early_or_reported(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    """Unattended: a CRL with a week left is re-signed. Attended: a repair says so."""

    def short_crl(store: PkiStore) -> None:
        store.generate_crl(PASSPHRASE, days=7)

    installed = await install(hass, custody="attended", prepare=short_crl)
    assert issue(hass, "crl_stale", installed.entry.entry_id) is not None
    crl = await hass.async_add_executor_job(installed.store.crl)
    assert crl is not None and crl.next_update_utc is not None
    assert crl.next_update_utc - dt_util.utcnow() < dt.timedelta(days=8)

    await hass.config_entries.async_unload(installed.entry.entry_id)
    unattended = await install_unattended_on(hass, installed.store)
    assert issue(hass, "crl_stale", unattended) is None
    crl = await hass.async_add_executor_job(installed.store.crl)
    assert crl is not None and crl.next_update_utc is not None
    assert crl.next_update_utc - dt_util.utcnow() > dt.timedelta(days=25)


async def install_unattended_on(hass: HomeAssistant, store: PkiStore) -> str:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    # Unattended custody keeps the passphrase in the private secrets file.
    path = secrets_path(hass, entry.data["store_id"])
    await hass.async_add_executor_job(write_secrets, path, {"passphrase": PASSPHRASE})
    hass.config_entries.async_update_entry(entry, data={**entry.data, "custody": "unattended"})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry.entry_id


async def test_expiring_without_auto_renew(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass, options={"auto_renew": False}, prepare=issue_short_lived())
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    answer_status6(mqtt_bus, TOPIC, {"MqttHost": BROKER_HOST, "MqttPort": 8883, "MqttTLS": 1})
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    await next_check(hass)

    found = issue(hass, "devices_expiring", entry_id)
    assert found is not None
    assert found.translation_placeholders == {"devices": "Kitchen plug", "days": "30"}
    expiring = [e for e in events if e["type"] == "certificate_expiring"]
    assert len(expiring) == 1
    assert expiring[0]["days_left"] in (9, 10)
    assert state_of(hass, "sensor", f"{entry_id}_expiring_devices").state == "1"
    # Announced once per certificate, not every hour.
    await next_check(hass)
    assert len([e for e in events if e["type"] == "certificate_expiring"]) == 1


async def test_expired_certificate(
    hass: HomeAssistant, mqtt_bus: MqttBus, freezer: FrozenDateTimeFactory
) -> None:
    installed = await install(hass, options={"auto_renew": False}, prepare=issue_short_lived())
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    answer_status6(mqtt_bus, TOPIC, {"MqttHost": BROKER_HOST, "MqttPort": 8883, "MqttTLS": 1})
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    freezer.tick(dt.timedelta(days=11))
    await next_check(hass)
    assert [e["type"] for e in events if e["type"].startswith("certificate_")] == [
        "certificate_expired"
    ]
    assert state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "expired"
    assert state_of(hass, "sensor", f"{entry_id}_enrolled_devices").state == "0"


async def test_auto_renew_revokes_the_old_certificate_after_the_switch(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """Inside the window the device gets a new key; the old certificate is revoked after."""
    installed = await install(hass, options={"channel": "mqtt"}, prepare=issue_short_lived())
    entry_id = installed.entry.entry_id
    old = await hass.async_add_executor_job(installed.store.find, TOPIC)
    events = collect_events(hass)
    device = PlaybackDevice(
        mqtt_bus,
        BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, installed.broker_fingerprint),
        mac=MAC,
    )
    s = device.settings
    s.topic = TOPIC
    s.mqtt_host, s.mqtt_port, s.setoption103, s.setoption132 = BROKER_HOST, 8883, 1, 1
    s.fingerprint1 = installed.broker_fingerprint.replace(" ", "")
    s.tlskey1, s.tlskey2 = b"\x01" * 32, b"\x30" * 400
    device._tls = True
    device.announce()
    await wait_for(
        hass,
        lambda: (
            hass.states.async_entity_ids("button") != []
            and state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "connected_tls"
        ),
    )
    tlskey2_before = s.tlskey2

    await next_check(hass)
    await wait_for(hass, lambda: any(e["type"] == "revoked" for e in events))
    kinds = [e["type"] for e in events]
    assert kinds == ["certificate_expiring", "renewed", "revoked"]
    renewed = events[1]
    assert renewed["previous_serial"] == old.serial
    assert renewed["serial"] != old.serial
    assert events[2]["serial"] == old.serial
    assert events[2]["reason"] == "superseded"
    assert "Restart" in device.commands_seen
    assert s.tlskey2 != tlskey2_before
    entries = {e.serial: e for e in await hass.async_add_executor_job(installed.store.entries)}
    assert entries[old.serial].status == "revoked"
    assert entries[renewed["serial"]].status == "valid"
    await wait_for(
        hass,
        lambda: state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "connected_tls",
    )
    assert (
        state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").attributes["serial"]
        == (renewed["serial"])
    )
    assert issue(hass, "devices_expiring", entry_id) is None


async def test_broker_name_mismatch(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    """The broker certificate does not name the configured host: a repair."""
    installed = await install(hass)
    entry = installed.entry
    assert issue(hass, "broker_name_mismatch", entry.entry_id) is None
    assert issue(hass, "ca_expiring", entry.entry_id) is None  # ten years left
    hass.config_entries.async_update_entry(entry, data={**entry.data, "broker_host": "other.lan"})
    await hass.async_block_till_done()
    found = issue(hass, "broker_name_mismatch", entry.entry_id)
    assert found is not None
    assert found.translation_placeholders == {
        "broker_host": "other.lan",
        "certificate_names": BROKER_HOST,
        "reported_hosts": "-",
    }


async def test_attended_crl_repair_asks_for_the_passphrase(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    def short_crl(store: PkiStore) -> None:
        store.generate_crl(PASSPHRASE, days=7)

    installed = await install(hass, custody="attended", prepare=short_crl)
    entry_id = installed.entry.entry_id
    found = issue(hass, "crl_stale", entry_id)
    assert found is not None and found.is_fixable
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()

    flow = await start_fix(client, f"crl_stale_{entry_id}")
    assert flow["step_id"] == "passphrase"
    flow = await submit_fix(client, flow["flow_id"], {"passphrase": "wrong"})
    assert flow["errors"] == {"base": "wrong_passphrase"}
    flow = await submit_fix(client, flow["flow_id"], {"passphrase": PASSPHRASE})
    assert flow["type"] == "create_entry"
    crl = await hass.async_add_executor_job(installed.store.crl)
    assert crl is not None and crl.next_update_utc is not None
    assert crl.next_update_utc - dt_util.utcnow() > dt.timedelta(days=25)
    assert issue(hass, "crl_stale", entry_id) is None
    assert PASSPHRASE not in json.dumps(dict(installed.entry.data))


async def test_attended_renewal_repair(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    """Attended custody cannot renew alone: the repair takes the passphrase and renews."""
    installed = await install(
        hass, custody="attended", options={"channel": "mqtt"}, prepare=issue_short_lived()
    )
    entry_id = installed.entry.entry_id
    events = collect_events(hass)
    fingerprint = await hass.async_add_executor_job(lambda: installed.broker_fingerprint)
    device = PlaybackDevice(
        mqtt_bus, BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint), mac=MAC
    )
    s = device.settings
    s.topic = TOPIC
    s.mqtt_host, s.mqtt_port, s.setoption103, s.setoption132 = BROKER_HOST, 8883, 1, 1
    s.fingerprint1 = fingerprint.replace(" ", "")
    s.tlskey1, s.tlskey2 = b"\x01" * 32, b"\x30" * 400
    device._tls = True
    device.announce()
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    await next_check(hass)
    found = issue(hass, "devices_expiring", entry_id)
    assert found is not None and found.is_fixable
    assert [e["type"] for e in events] == ["certificate_expiring"]  # nothing renewed alone

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    flow = await start_fix(client, f"devices_expiring_{entry_id}")
    flow = await submit_fix(client, flow["flow_id"], {"passphrase": PASSPHRASE})
    assert flow["type"] == "create_entry"
    await wait_for(hass, lambda: any(e["type"] == "revoked" for e in events))
    assert [e["type"] for e in events] == ["certificate_expiring", "renewed", "revoked"]
    assert issue(hass, "devices_expiring", entry_id) is None
