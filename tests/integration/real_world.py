"""A real Mosquitto, one virtual Tasmota on it, Home Assistant's MQTT entry and ours.

The broker has a plain listener (Home Assistant and the devices start there) and, when
asked for, a TLS listener that requires a client certificate and takes its CN as the
user name. Tests on it use ``REAL_BROKER_TIMING`` (tests/helpers/engine_timing.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from tests.helpers.mosquitto import PLAIN_LISTENER, TLS_LISTENER, MosquittoBroker, free_port
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
    """Wait for discovery of the virtual device, then call the enrol action.

    Returns the TLS status sensor's unique ID and the events fired from the call on.
    """
    mac = world.device.mac
    unique_id = f"{world.entry.entry_id}_{mac}_tls_status"
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")), 20)
    await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "not_enrolled", 20)
    device = device_of(hass, mac)
    assert device is not None
    events = collect_events(hass)
    await hass.services.async_call(DOMAIN, "enrol", {"device_id": device.id}, blocking=True)
    return unique_id, events


async def enrol_until_connected(
    hass: HomeAssistant, world: World, seconds: float = 40
) -> tuple[str, list[dict[str, Any]]]:
    """:func:`enrol`, then wait until the device is on TLS with its certificate."""
    unique_id, events = await enrol(hass, world)
    await wait_for(
        hass, lambda: state_of(hass, "sensor", unique_id).state == "connected_tls", seconds
    )
    return unique_id, events
