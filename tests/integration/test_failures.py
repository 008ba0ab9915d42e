"""Failures the user can read and act on; queued, enrolling and renewing told apart.

Devices answer like Tasmota over the mocked bus (playback_device.py); the rolled-back
case runs on a real Mosquitto whose TLS listener is missing (test_real_broker.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.failures import notification_id
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.mosquitto import MosquittoBroker

from .helpers import device_of, entity_id, state_of, wait_for
from .install import BROKER_HOST, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice
from .real_world import enrol, enrol_until_connected, real_world

MACS = ("A4CF12ABCDE1", "A4CF12ABCDE2")
ONLINE_TIMEOUT = 4.0


@pytest.fixture
def engine_timing() -> EngineTiming:
    return EngineTiming(step_timeout=2.0, poll_interval=0.1, wait_online_timeout=ONLINE_TIMEOUT)


def sensor(hass: HomeAssistant, entry_id: str, mac: str, key: str) -> Any:
    return state_of(hass, "sensor", f"{entry_id}_{mac}_{key}")


def devices(bus: MqttBus, fingerprint: str, count: int) -> list[PlaybackDevice]:
    broker = BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint)
    found = []
    for index, mac in enumerate(MACS[:count]):
        device = PlaybackDevice(bus, broker, mac=mac, ip=f"127.0.0.{index + 2}")
        device.announce()
        found.append(device)
    return found


async def press(hass: HomeAssistant, entry_id: str, mac: str, key: str = "enrol") -> None:
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity_id(hass, "button", f"{entry_id}_{mac}_{key}")},
        blocking=True,
    )


def issue(hass: HomeAssistant, kind: str, entry_id: str, mac: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}_{mac}")


async def test_a_device_waiting_for_a_slot_shows_queued(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, options={"channel": "mqtt", "max_parallel_enrolments": 1})
    entry_id = installed.entry.entry_id
    first, _ = devices(mqtt_bus, installed.broker_fingerprint, 2)
    first.faults.reply_delay = 0.2  # the first enrolment takes a moment
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 4)

    await press(hass, entry_id, MACS[0])
    await press(hass, entry_id, MACS[1])
    # One slot: the second device waits its turn, and says so.
    assert sensor(hass, entry_id, MACS[1], "tls_status").state == "queued"
    assert sensor(hass, entry_id, MACS[1], "tls_status").attributes["progress_step"] == "queued"
    status = sensor(hass, entry_id, MACS[0], "tls_status")
    assert status.state == "enrolling"
    assert status.attributes["progress_step"] in ("issue", "starting")
    await wait_for(
        hass,
        lambda: sensor(hass, entry_id, MACS[1], "tls_status").state == "enrolling",
        20,
    )
    for mac in MACS:

        def connected(m: str = mac) -> bool:
            return sensor(hass, entry_id, m, "tls_status").state == "connected_tls"

        await wait_for(hass, connected, 30)
        assert sensor(hass, entry_id, mac, "failure_reason").state == "none"

    # A renewal is not an enrolment.
    await press(hass, entry_id, MACS[0], "renew")
    assert sensor(hass, entry_id, MACS[0], "tls_status").state == "renewing"
    await wait_for(
        hass,
        lambda: sensor(hass, entry_id, MACS[0], "tls_status").state == "connected_tls",
        30,
    )


async def test_pressing_enrol_again_says_it_is_running(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """The second and third press are refused with a message, and start nothing."""
    from homeassistant.exceptions import ServiceValidationError

    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    (device,) = devices(mqtt_bus, installed.broker_fingerprint, 1)
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 2)
    # Three presses in quick succession, as an impatient user does: all arrive while the
    # first one still checks the passphrase.
    results = await asyncio.gather(
        *(press(hass, entry_id, MACS[0]) for _ in range(3)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, ServiceValidationError)]
    assert len(refused) == 2, results
    assert {r.translation_key for r in refused} == {"busy"}
    await wait_for(
        hass, lambda: sensor(hass, entry_id, MACS[0], "tls_status").state == "connected_tls", 30
    )
    assert device.commands_seen.count("TLSKey1") + device.commands_seen.count("TLSKEY1") <= 1


async def test_a_device_frozen_after_the_switch_ends_failed_in_time(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    (device,) = devices(mqtt_bus, installed.broker_fingerprint, 1)
    # It hangs at the restart the switch causes: no will, no rollback, no answer.
    device._can_connect = lambda: False  # type: ignore[method-assign]
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 2)
    await press(hass, entry_id, MACS[0])

    def switched() -> bool:
        return "rollback_at" in sensor(hass, entry_id, MACS[0], "tls_status").attributes

    await wait_for(hass, switched, 20)
    switched_at = time.monotonic()
    status = sensor(hass, entry_id, MACS[0], "tls_status")
    assert status.state == "enrolling"
    assert status.attributes["progress_step"] == "wait_online"
    # When the device's own rule would restore it, and when the wait ends at the latest.
    assert status.attributes["rollback_at"] and status.attributes["gives_up_at"]

    await wait_for(
        hass, lambda: sensor(hass, entry_id, MACS[0], "tls_status").state == "failed", 30
    )
    took = time.monotonic() - switched_at
    assert took <= ONLINE_TIMEOUT + 2.0, f"ended {took:.1f} s after the switch"
    reason = sensor(hass, entry_id, MACS[0], "failure_reason")
    assert reason.state == "rollback_unconfirmed"
    assert reason.attributes["failed_step"] == "wait_online"
    assert issue(hass, "device_unreachable", entry_id, MACS[0]) is not None


async def test_the_same_failure_on_several_devices_is_one_notification(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    fleet = devices(mqtt_bus, installed.broker_fingerprint, 2)
    for device in fleet:
        device.faults.no_tlskey = True  # a batch flashed with a stock build
    await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 4)
    for mac in MACS:
        await press(hass, entry_id, mac)
    for mac in MACS:

        def failed(m: str = mac) -> bool:
            return sensor(hass, entry_id, m, "tls_status").state == "failed"

        await wait_for(hass, failed, 20)
        assert sensor(hass, entry_id, mac, "failure_reason").state == "no_tlskey_support"
        repair = issue(hass, "no_tlskey_support", entry_id, mac)
        assert repair is not None
    notices = persistent_notification._async_get_or_create_notifications(hass)
    await wait_for(hass, lambda: notification_id(entry_id) in notices, 10)
    message = notices[notification_id(entry_id)]["message"]
    assert "2 devices: Firmware without TLSKey" in message


@pytest.mark.usefixtures("mock_hass_config")
async def test_rolled_back_device_shows_its_reason_and_a_repair(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=False) as world:
        unique_id, _ = await enrol(hass, world)
        await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "failed", 40)
        entry_id, mac = world.entry.entry_id, world.device.mac
        reason = sensor(hass, entry_id, mac, "failure_reason")
        assert reason.state == "rolled_back"
        assert reason.attributes["detail"]
        repair = issue(hass, "rolled_back", entry_id, mac)
        assert repair is not None
        assert repair.translation_key == "rolled_back"
        assert repair.translation_placeholders is not None
        assert repair.translation_placeholders["broker_port"] == str(world.tls_port)


@pytest.mark.usefixtures("mock_hass_config")
async def test_a_revoked_device_still_connected_shows_the_next_step(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    """A CRL reload keeps open connections: the repair says to restart the broker."""
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=True) as world:
        unique_id, _ = await enrol_until_connected(hass, world)
        entry_id, mac = world.entry.entry_id, world.device.mac
        assert issue(hass, "revoked_still_connected", entry_id, mac) is None
        device = device_of(hass, mac)
        await hass.services.async_call(DOMAIN, "revoke", {"device_id": device.id}, blocking=True)
        await hass.async_block_till_done()
        assert state_of(hass, "sensor", unique_id).state == "revoked"
        assert world.device.tls_active  # still connected: nothing cut it off
        repair = issue(hass, "revoked_still_connected", entry_id, mac)
        assert repair is not None
        assert repair.translation_placeholders is not None
        assert repair.translation_placeholders["mac"] == mac
