"""Home Assistant with its MQTT integration on a real Mosquitto, and a virtual Tasmota.

The broker has a plain listener (Home Assistant and the devices start there) and a
TLS listener that requires a client certificate and takes its CN as the user name.
The integration enrols the device over HTTP /cm: with the listener up the device
ends on TLS with its own certificate; with it down the device rolls itself back.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import quote

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from tests.helpers.mosquitto import (
    PLAIN_LISTENER,
    TLS_LISTENER,
    MosquittoBroker,
    connected_line,
    free_port,
)
from virtual_tasmota import Fleet, VirtualDevice

from .helpers import collect_events, device_of, state_of, wait_for

PASSPHRASE = "real broker passphrase"
BROKER_NAME = "localhost"  # the devices' MqttHost; the broker certificate names it


def real_broker_entries(
    plain_port: int, tls_port: int, http_port: int
) -> tuple[MockConfigEntry, MockConfigEntry]:
    """HA's MQTT entry on the broker's plain listener, and ours for its TLS listener."""
    mqtt_entry = MockConfigEntry(
        domain="mqtt", data={"broker": "127.0.0.1", "port": plain_port}, version=1, minor_version=2
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Real CA",
        unique_id="real-ca",
        data={
            "store_id": "real",
            "ca_source": "create",
            "custody": "unattended",
            "passphrase": PASSPHRASE,
            "broker_host": BROKER_NAME,
            "broker_port": tls_port,
        },
        options={**DEFAULT_OPTIONS, "http_port": http_port, "rollback_minutes": 1},
    )
    return mqtt_entry, entry


@pytest.fixture(autouse=True)
def engine_timing() -> Generator[None]:
    """Bounded waits; the devices' rule timers run fast (rule_timer_scale)."""
    timing = {"step_timeout": 5.0, "poll_interval": 0.2, "wait_online_timeout": 20.0}
    with patch.dict("custom_components.tasmota_tls.manager.ENGINE_TIMING", timing):
        yield


def make_pki(store_dir: Path, files: Path) -> str:
    """A CA with a broker certificate; the broker's copies in ``files``. Returns its fingerprint."""
    store = PkiStore(store_dir)
    store.init_ca(PASSPHRASE, "Real CA")
    credential = store.issue_broker(PASSPHRASE, BROKER_NAME)
    files.mkdir(parents=True)
    (files / "ca.crt").write_bytes((store_dir / "ca.crt").read_bytes())
    (files / "broker.crt").write_bytes(credential.cert_pem)
    key = files / "broker.key"
    key.write_bytes(credential.key_pem_unencrypted())
    os.chmod(key, 0o600)
    return tasmota_fingerprint(credential.certificate)


@dataclass
class World:
    broker: MosquittoBroker
    device: VirtualDevice
    entry: MockConfigEntry
    tls_port: int
    plain_port: int


@contextlib.asynccontextmanager
async def real_world(
    hass: HomeAssistant,
    make_broker: Callable[..., MosquittoBroker],
    tmp_path: Path,
    *,
    tls_listener: bool,
) -> AsyncIterator[World]:
    """Broker, one virtual device, HA's MQTT entry on the broker, then our entry."""
    store_dir = Path(hass.config.path(".storage", "tasmota_tls", "real"))
    files = tmp_path / "broker-files"
    await hass.async_add_executor_job(make_pki, store_dir, files)
    config = PLAIN_LISTENER + (TLS_LISTENER % {"dir": files} if tls_listener else "")
    broker = await hass.async_add_executor_job(make_broker, config)
    plain_port = broker.ports["port"]
    tls_port = broker.ports["tls_port"] if tls_listener else free_port()
    http_port = free_port()
    ca_pem = (files / "ca.crt").read_bytes()
    fleet = Fleet(
        broker_host="127.0.0.1",
        broker_port=plain_port,
        state_dir=tmp_path / "fleet",
        count=1,
        http_port=http_port,
        trust_anchors_pem=ca_pem,
        boot_delay=0.05,
        retry_delay=0.5,
        backlog_delay=0.01,
        restart_delay=0.05,
        rule_timer_scale=0.02,  # the one-minute rollback takes about a second
    )
    mqtt_entry, entry = real_broker_entries(plain_port, tls_port, http_port)
    async with fleet:
        mqtt_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
        entry.add_to_hass(hass)
        try:
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            yield World(broker, fleet.devices[0], entry, tls_port, plain_port)
        finally:
            # Unload both entries so no connection, timer or thread outlives the test.
            for loaded in (entry, mqtt_entry):
                if loaded.state is ConfigEntryState.LOADED:
                    await hass.config_entries.async_unload(loaded.entry_id)
            await hass.async_block_till_done()


async def enrol(hass: HomeAssistant, world: World) -> tuple[str, list[dict[str, Any]]]:
    """Wait for discovery of the virtual device, then call the enroll action."""
    mac = world.device.mac
    unique_id = f"{world.entry.entry_id}_{mac}_tls_status"
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")), 20)
    await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "not_enrolled", 20)
    device = device_of(hass, mac)
    assert device is not None
    events = collect_events(hass)
    await hass.services.async_call(DOMAIN, "enroll", {"device_id": device.id}, blocking=True)
    return unique_id, events


@pytest.mark.usefixtures("mock_hass_config")
async def test_device_enrolled_and_connected_over_tls(
    hass: HomeAssistant,
    mosquitto_factory: Callable[..., MosquittoBroker],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=True) as world:
        unique_id, events = await enrol(hass, world)
        await wait_for(
            hass, lambda: state_of(hass, "sensor", unique_id).state == "connected_tls", 40
        )

        virtual = world.device
        assert virtual.tls_active
        assert (virtual.settings.mqtt_host, virtual.settings.mqtt_port) == (
            BROKER_NAME,
            world.tls_port,
        )
        # The broker saw the device's own certificate: its CN is the MQTT user name.
        await world.broker.async_wait_for_log(connected_line(user=virtual.topic))
        entry_id, mac = world.entry.entry_id, virtual.mac
        assert state_of(hass, "binary_sensor", f"{entry_id}_{mac}_tls_connected").state == "on"
        assert [e["type"] for e in events] == ["enrolled"]
        assert state_of(hass, "sensor", f"{entry_id}_enrolled_devices").state == "1"

        # The key went over HTTP /cm: it is in no log line, event or state.
        assert virtual.settings.tlskey1 is not None
        raw = virtual.settings.tlskey1
        key_b64 = base64.b64encode(raw).decode()
        secrets = [key_b64, quote(key_b64, safe=""), raw.hex(), raw.hex().upper(), PASSPHRASE]
        places = caplog.text + repr(events) + repr(hass.states.async_all())
        assert "TLSKey1" in caplog.text  # the logs do cover the enrolment's commands
        for secret in secrets:
            assert secret not in places


@pytest.mark.usefixtures("mock_hass_config")
async def test_listener_down_rolls_back_and_fails_with_reason(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=False) as world:
        unique_id, events = await enrol(hass, world)
        await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "failed", 40)

        state = state_of(hass, "sensor", unique_id)
        assert state.attributes["failure_reason"] == "rolled_back"
        assert state.attributes["failed_step"] == "wait_online"
        failed = [e for e in events if e["type"] == "enrolment_failed"]
        assert len(failed) == 1
        assert (failed[0]["step"], failed[0]["reason"]) == ("wait_online", "rolled_back")
        # The device put its previous settings back and is reachable on the plain listener.
        virtual = world.device
        await virtual.wait_state(lambda d: d.connected, 10)
        settings = virtual.settings
        assert (settings.mqtt_host, settings.mqtt_port, settings.setoption103) == (
            "127.0.0.1",
            world.plain_port,
            0,
        )
        assert not virtual.tls_active
