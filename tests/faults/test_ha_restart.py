"""Home Assistant stopped and started again in the middle of enrolments (real processes).

A real Mosquitto (plain listener plus a TLS listener that requires a client
certificate), virtual Tasmota devices serving HTTP /cm on their own loopback
addresses, and Home Assistant's MQTT client on that broker. Two enrolments run:
one device has been switched to TLS and is restarting, the other has its key but
has not been switched. Then Home Assistant stops (both entries unloaded: running
operations are cancelled, the MQTT client disconnects) and starts again over the
same storage. Each device must end connected_tls or back on its old settings and
reported failed; every certificate issued is in the CA's index and in the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.enrolment import EnrolmentStep
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.mosquitto import PLAIN_LISTENER, TLS_LISTENER, MosquittoBroker, free_port
from tests.integration.helpers import collect_events, device_of, state_of, wait_for
from tests.integration.real_world import BROKER_NAME, make_pki, real_broker_entries
from virtual_tasmota import Fleet, VirtualDevice

PRE_SWITCH = {EnrolmentStep.SEND_KEY, EnrolmentStep.SEND_CERT, EnrolmentStep.CONFIRM}
POST_SWITCH = {EnrolmentStep.SWITCH, EnrolmentStep.WAIT_ONLINE}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/tasmota_tls."""


@pytest.fixture(autouse=True)
def only_our_mqtt_discovery() -> Generator[None]:
    """Home Assistant's own Tasmota integration (not installed) would offer itself too."""
    from unittest.mock import AsyncMock

    with patch(
        "homeassistant.components.mqtt.discovery.async_get_mqtt",
        AsyncMock(return_value={"tasmota_tls": ["tasmota/discovery/#"]}),
    ):
        yield


async def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll on the event loop (journal writes fire no event) until ``predicate`` holds."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def step_of(entry: MockConfigEntry, mac: str) -> EnrolmentStep | None:
    record = entry.runtime_data.view.record(mac)
    return None if record is None else record.step


async def enrol(hass: HomeAssistant, mac: str) -> None:
    device = device_of(hass, mac)
    assert device is not None
    await hass.services.async_call(DOMAIN, "enrol", {"device_id": device.id}, blocking=True)


@pytest.mark.usefixtures("mock_hass_config")
async def test_restart_during_enrolments(
    hass: HomeAssistant,
    mosquitto_factory: Callable[..., MosquittoBroker],
    tmp_path: Path,
    hass_storage: dict[str, Any],
) -> None:
    hass.config.config_dir = str(tmp_path)
    store_dir = Path(hass.config.path(".storage", "tasmota_tls", "real"))
    files = tmp_path / "broker-files"
    await hass.async_add_executor_job(make_pki, store_dir, files)
    broker = await hass.async_add_executor_job(
        mosquitto_factory, PLAIN_LISTENER + TLS_LISTENER % {"dir": files}
    )
    plain_port, tls_port, http_port = broker.ports["port"], broker.ports["tls_port"], free_port()
    fleet = Fleet(
        broker_host="127.0.0.1",
        broker_port=plain_port,
        state_dir=tmp_path / "fleet",
        count=2,
        http_port=http_port,
        boot_delay=0.05,
        retry_delay=0.5,
        backlog_delay=0.01,
        restart_delay=1.5,  # a wide window between the switch and the TLS connection
        rule_timer_scale=0.02,
    )
    mqtt_entry, entry = real_broker_entries(plain_port, tls_port, http_port)

    async def start() -> None:
        for loaded in (mqtt_entry, entry):
            assert await hass.config_entries.async_setup(loaded.entry_id)
        await hass.async_block_till_done()

    async def stop() -> None:
        for loaded in (entry, mqtt_entry):
            if loaded.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(loaded.entry_id)
        await hass.async_block_till_done()

    async with fleet:
        switched, unswitched = fleet.devices
        mqtt_entry.add_to_hass(hass)
        entry.add_to_hass(hass)
        try:
            await start()
            view = entry.runtime_data.view
            await wait_for(hass, lambda: len(view.devices) == 2, 20)
            await wait_for(hass, lambda: len(hass.states.async_entity_ids("button")) == 4, 20)

            await enrol(hass, switched.mac)
            await wait_until(lambda: step_of(entry, switched.mac) in POST_SWITCH, 20, "switch")
            await enrol(hass, unswitched.mac)
            await wait_until(lambda: step_of(entry, unswitched.mac) in PRE_SWITCH, 20, "key sent")
            steps_at_stop = {mac: step_of(entry, mac) for mac in (switched.mac, unswitched.mac)}
            await stop()
            assert steps_at_stop[switched.mac] in POST_SWITCH
            assert steps_at_stop[unswitched.mac] in PRE_SWITCH

            await asyncio.sleep(0.5)  # Home Assistant is down; the devices go on alone
            events = collect_events(hass)
            await start()

            def status(device: VirtualDevice) -> str:
                unique_id = f"{entry.entry_id}_{device.mac}_tls_status"
                return state_of(hass, "sensor", unique_id).state

            await wait_for(hass, lambda: status(switched) == "connected_tls", 40)
            await wait_for(hass, lambda: status(unswitched) == "failed", 40)
            await hass.async_block_till_done(wait_background_tasks=True)

            # The switched device is on TLS with the certificate the journal names.
            journal = hass_storage[f"{DOMAIN}.{entry.entry_id}.journal"]["data"]
            assert journal["records"][switched.mac]["step"] == "done"
            assert switched.tls_active
            assert (switched.settings.mqtt_host, switched.settings.mqtt_port) == (
                BROKER_NAME,
                tls_port,
            )
            # The other one was never switched: on its old settings, connected, failed.
            record = journal["records"][unswitched.mac]
            assert (record["step"], record["reason"]) == ("failed", "interrupted")
            await unswitched.wait_state(lambda d: d.connected, 10)
            settings = unswitched.settings
            assert (settings.mqtt_host, settings.mqtt_port, settings.setoption103) == (
                "127.0.0.1",
                plain_port,
                0,
            )
            assert not unswitched.tls_active
            kinds = sorted((e["mac"], e["type"]) for e in events)
            assert kinds == sorted(
                [(switched.mac, "enrolled"), (unswitched.mac, "enrolment_failed")]
            )

            # Every certificate issued is in the CA's index and recorded in the journal.
            recorded = {r["serial"] for r in journal["records"].values()}
            assert None not in recorded
            index = await hass.async_add_executor_job(PkiStore(store_dir).entries)
            issued = {e.serial for e in index if e.kind == "device"}
            assert issued == recorded
            assert journal["certificates"] == {
                switched.mac: journal["records"][switched.mac]["serial"]
            }
        finally:
            await stop()
