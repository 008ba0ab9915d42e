"""Operations waiting for a free slot are kept across a reload and a restart.

A reload happens on its own (Home Assistant's Tasmota integration linking a device,
an options change): the queued enrolments must run after it, in their place.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.enrolment import EnrolmentRecord, EnrolmentStep

from .helpers import collect_events, entity_id, state_of, wait_for
from .install import BROKER_HOST, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice

MACS = ("A4CF12ABCDE1", "A4CF12ABCDE2", "A4CF12ABCDE3")
ONE_AT_A_TIME = {"channel": "mqtt", "max_parallel_enrolments": 1}
# Interrupted after the switch, an enrolment is resumed; before it, it ends "interrupted"
# (the device untouched; tests/faults/test_ha_restart.py).
SWITCHED = {EnrolmentStep.SWITCH, EnrolmentStep.WAIT_ONLINE, EnrolmentStep.DISARM}


def status(hass: HomeAssistant, entry_id: str, mac: str) -> str:
    return state_of(hass, "sensor", f"{entry_id}_{mac}_tls_status").state


def devices(bus: MqttBus, fingerprint: str) -> list[PlaybackDevice]:
    broker = BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint)
    found = []
    for index, mac in enumerate(MACS):
        device = PlaybackDevice(bus, broker, mac=mac, ip=f"127.0.0.{index + 2}")
        device.announce()
        found.append(device)
    return found


async def press(hass: HomeAssistant, entry_id: str, mac: str) -> None:
    button = entity_id(hass, "button", f"{entry_id}_{mac}_enrol")
    await hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)


def journal(hass_storage: dict[str, Any], entry_id: str) -> dict[str, Any]:
    data: dict[str, Any] = hass_storage[f"{DOMAIN}.{entry_id}.journal"]["data"]
    return data


def write_journal(hass_storage: dict[str, Any], entry_id: str, **data: Any) -> None:
    """The journal as an earlier run of Home Assistant left it."""
    key = f"{DOMAIN}.{entry_id}.journal"
    base: dict[str, Any] = {"records": {}, "certificates": {}, "names": {}}
    hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": base | data}


def all_connected(hass: HomeAssistant, entry_id: str) -> bool:
    if len(hass.states.async_entity_ids("button")) < 2 * len(MACS):
        return False  # not every device has announced itself yet
    return all(status(hass, entry_id, mac) == "connected_tls" for mac in MACS)


async def until_switched(hass: HomeAssistant, mac: str) -> None:
    """Poll (journal writes fire no event) until the device's enrolment has switched it."""
    view = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.view
    deadline = time.monotonic() + 20
    while (record := view.record(mac)) is None or record.step not in SWITCHED:
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.01)


async def test_queued_enrolments_run_after_a_reload(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    installed = await install(hass, options=ONE_AT_A_TIME)
    entry_id = installed.entry.entry_id
    first, *_ = devices(mqtt_bus, installed.broker_fingerprint)
    first.faults.reply_delay = 0.2  # the first enrolment takes a moment
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 2 * len(MACS))
    for mac in MACS:
        await press(hass, entry_id, mac)
    assert status(hass, entry_id, MACS[0]) == "enrolling"
    assert [status(hass, entry_id, mac) for mac in MACS[1:]] == ["queued", "queued"]
    # The waiting ones are journaled in their order (the first one's until its first step).
    requested = journal(hass_storage, entry_id)["requested"]
    assert [mac for mac in requested if mac != MACS[0]] == list(MACS[1:])

    await until_switched(hass, MACS[0])
    await hass.config_entries.async_reload(entry_id)  # while the first one runs
    await wait_for(hass, lambda: all_connected(hass, entry_id), 60)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert journal(hass_storage, entry_id)["requested"] == {}


async def test_requests_saved_before_a_restart_run_in_their_order(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    installed = await install(hass, options=ONE_AT_A_TIME)
    entry_id = installed.entry.entry_id
    await hass.config_entries.async_unload(entry_id)  # Home Assistant stopped
    order = (MACS[1], MACS[2], MACS[0])
    write_journal(hass_storage, entry_id, requested=dict.fromkeys(order, "enrol"))
    events = collect_events(hass)
    devices(mqtt_bus, installed.broker_fingerprint)  # announced in another order

    assert await hass.config_entries.async_setup(entry_id)
    await wait_for(hass, lambda: all_connected(hass, entry_id), 60)
    assert [e["mac"] for e in events if e["type"] == "enrolled"] == list(order)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert journal(hass_storage, entry_id)["requested"] == {}


async def test_a_journal_without_requests_still_loads(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """Journals written before requests were kept have no ``requested`` key."""
    installed = await install(hass, options=ONE_AT_A_TIME)
    entry_id = installed.entry.entry_id
    await hass.config_entries.async_unload(entry_id)
    done = EnrolmentRecord.start(MACS[0])
    failed = done.to_dict() | {"step": "failed", "reason": "timeout"}
    write_journal(hass_storage, entry_id, records={MACS[0]: failed})
    devices(mqtt_bus, installed.broker_fingerprint)
    assert await hass.config_entries.async_setup(entry_id)
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 2 * len(MACS))
    assert status(hass, entry_id, MACS[0]) == "failed"
    assert status(hass, entry_id, MACS[1]) == "not_enrolled"


async def test_attended_request_needs_the_passphrase_again(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    """The passphrase given with a request is never stored: the request says so."""
    installed = await install(hass, custody="attended", options=ONE_AT_A_TIME)
    entry_id = installed.entry.entry_id
    await hass.config_entries.async_unload(entry_id)
    write_journal(hass_storage, entry_id, requested={MACS[0]: "enrol"})
    events = collect_events(hass)
    first, *_ = devices(mqtt_bus, installed.broker_fingerprint)

    assert await hass.config_entries.async_setup(entry_id)
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events))
    failed = next(e for e in events if e["type"] == "enrolment_failed")
    assert failed["mac"] == MACS[0] and failed["reason"] == "interrupted"
    assert status(hass, entry_id, MACS[0]) == "failed"
    reason = state_of(hass, "sensor", f"{entry_id}_{MACS[0]}_failure_reason")
    assert reason.state == "interrupted"
    assert "passphrase" in reason.attributes["detail"]
    assert "TLSKey1" not in first.commands_seen  # nothing was sent to the device
    await hass.async_block_till_done(wait_background_tasks=True)
    assert journal(hass_storage, entry_id)["requested"] == {}
