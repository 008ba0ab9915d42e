"""The identity takeover of issue 11 end to end: real Mosquitto, Home Assistant, virtual Tasmota.

An attacker on the broker publishes one retained discovery config for a MAC never seen
before, with the enrolled victim's topic and the attacker's own IP (where a web server
records every request). Enrolment, renewal and automatic renewal of that MAC never send
it a key, nothing is published on a TLSKey topic, a repair names both MACs and both
addresses, and the victim's certificate stays valid and in use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.engine_timing import REAL_BROKER_TIMING
from tests.helpers.mosquitto import MosquittoBroker, connected_line

from .helpers import WebRecorder, device_of, state_of, wait_for
from .install import discovery_config
from .real_world import PASSPHRASE, enrol_until_connected, real_world

ATTACKER_MAC = "DEADBEEF0001"
ATTACKER_IP = "127.0.0.9"


@pytest.fixture
def engine_timing() -> EngineTiming:
    """Bounded waits; the devices' rule timers run fast (rule_timer_scale)."""
    return REAL_BROKER_TIMING


@pytest.fixture
async def attacker_web() -> AsyncIterator[Callable[[int], Any]]:
    """Start the recorder on ATTACKER_IP at the entry's web port, once that is known."""
    runners: list[web.AppRunner] = []
    recorder = WebRecorder()

    async def start(port: int) -> WebRecorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", recorder.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, ATTACKER_IP, port).start()
        runners.append(runner)
        return recorder

    yield start
    for runner in runners:
        await runner.cleanup()


def conflict_issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"identity_conflict_{entry_id}_{ATTACKER_MAC}"
    )


@pytest.mark.usefixtures("mock_hass_config")
async def test_fake_discovery_for_a_new_mac_gets_no_key(
    hass: HomeAssistant,
    mosquitto_factory: Callable[..., MosquittoBroker],
    tmp_path: Path,
    attacker_web: Callable[[int], Any],
) -> None:
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=True) as world:
        victim = world.device
        entry = world.entry
        _, events = await enrol_until_connected(hass, world)
        await world.broker.async_wait_for_log(connected_line(user=victim.topic))
        data = entry.runtime_data
        victim_serial = data.view.certificate_serial(victim.mac)
        recorder = await attacker_web(int(entry.options["http_port"]))
        tlskey_topics: list[str] = []
        unsubscribe = await mqtt.async_subscribe(
            hass, "+/+/TLSKey1", lambda msg: tlskey_topics.append(msg.topic)
        )

        # 1. One retained discovery config: a new MAC, the victim's topic, the attacker's IP.
        fake = discovery_config(mac=ATTACKER_MAC, ip=ATTACKER_IP, topic=victim.topic)
        await mqtt.async_publish(
            hass, f"tasmota/discovery/{ATTACKER_MAC}/config", json.dumps(fake), retain=True
        )
        await wait_for(hass, lambda: conflict_issue(hass, entry.entry_id) is not None, 20)

        # 2. No certificate is linked to it by name: it is not "enrolled", not due for renewal.
        assert data.view.certificate(ATTACKER_MAC) is None
        found = conflict_issue(hass, entry.entry_id)
        assert found is not None and found.translation_placeholders is not None
        shown = found.translation_placeholders
        assert (shown["mac"], shown["ip"]) == (ATTACKER_MAC, ATTACKER_IP)
        assert shown["owner_mac"] == victim.mac
        assert shown["owner_ip"] == data.guard.pins.pins[victim.mac]["ip"]
        attacker_status = f"{entry.entry_id}_{ATTACKER_MAC}_tls_status"
        assert state_of(hass, "sensor", attacker_status).state == "not_enrolled"

        # 3. Enrol and renew (action and buttons) are refused; automatic renewal skips it.
        attacker_device = device_of(hass, ATTACKER_MAC)
        for action in ("enrol", "enroll", "renew"):
            with pytest.raises(ServiceValidationError) as refused:
                await hass.services.async_call(
                    DOMAIN, action, {"device_id": attacker_device.id}, blocking=True
                )
            assert refused.value.translation_key == "identity_conflict"
        data.operations.async_start_renewal(ATTACKER_MAC, PASSPHRASE)
        assert not data.view.is_busy(ATTACKER_MAC)
        await entry.runtime_data.lifecycle.async_check()  # the hourly pass: renews what is due
        # Only the victim's certificate is linked, so only the victim could ever be due.
        assert data.view.expiring(dt.timedelta(days=10_000)) == [victim.mac]

        # 4. Automatic enrolment of new devices: the replayed fake config gets nothing either.
        hass.config_entries.async_update_entry(entry, options={**entry.options, "auto_enrol": True})
        await hass.async_block_till_done()
        await wait_for(hass, lambda: conflict_issue(hass, entry.entry_id) is not None, 20)
        data = entry.runtime_data
        await hass.async_block_till_done(wait_background_tasks=True)
        assert data.view.record(ATTACKER_MAC) is None
        assert not data.view.is_busy(ATTACKER_MAC)

        # Nothing reached the attacker; the victim's certificate is valid and still in use.
        unsubscribe()
        assert recorder.requests == []
        assert tlskey_topics == []
        entries = await hass.async_add_executor_job(data.ca.store.entries)
        theirs = [e for e in entries if e.kind == "device"]
        assert [(e.serial, e.status, e.mac) for e in theirs] == [
            (victim_serial, "valid", victim.mac)
        ]
        assert data.view.certificate_serial(victim.mac) == victim_serial
        assert victim.tls_active
        assert [e["type"] for e in events] == ["enrolled"]
