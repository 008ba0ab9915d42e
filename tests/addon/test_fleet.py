"""Three virtual devices enrolled onto the stand-in add-on; isolation, a borrowed login, revocation.

What this shows holds for the stand-in, whose ACL is Mosquitto's own acl_file. The real
add-on 7.x asks its auth plugin first, and the plugin grants every logged-in user
everything (README, "what the stand-in cannot show"): there, only the logins and the
client certificate hold, not the ACL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TypedDict

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.tasmota_tls.addon.probe import mqtt_login_code
from custom_components.tasmota_tls.addon.service import port
from custom_components.tasmota_tls.addon.state import state_path
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from tests.helpers.bearssl_client import async_run_client, build_client_with_headers
from tests.helpers.mosquitto import connected_line, free_port
from tests.integration.helpers import collect_events, device_of, state_of, wait_for
from virtual_tasmota import Fleet
from virtual_tasmota.device import VirtualDevice

from .flow import BROKER_NAME, async_flow_to_confirm
from .ha_mqtt import async_setup_mqtt_on_addon
from .world import AddonWorld


class _Endpoint(TypedDict):
    """The async_run_client options every probe of the test shares."""

    host: str
    port: int
    server_name: str
    key_file: Path
    cert_file: Path
    wait_ms: int


@pytest.mark.usefixtures("mock_hass_config")
async def test_three_devices_logins_isolation_and_revocation(
    hass: HomeAssistant,
    addon_world: AddonWorld,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mqtt_entry = await async_setup_mqtt_on_addon(hass, addon_world.addon)
    await asyncio.sleep(1)  # its birth message is out before the add-on restarts

    result = await async_flow_to_confirm(hass)
    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY, done
    entry = done["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # The devices' web servers on a free loopback port, not 80.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "http_port": free_port(), "rollback_minutes": 1}
    )
    await hass.async_block_till_done()
    store = PkiStore(Path(hass.config.path(".storage", "tasmota_tls", entry.data["store_id"])))
    ca_cert = await hass.async_add_executor_job(store.ca_certificate)
    client = await hass.async_add_executor_job(
        build_client_with_headers, *firmware_headers(ca_cert), tmp_path / "client"
    )
    fleet = Fleet(
        broker_host="127.0.0.1",
        broker_port=port(1883),
        state_dir=tmp_path / "fleet",
        count=3,
        http_port=entry.options["http_port"],
        trust_anchors_pem=(addon_world.ssl_dir / "tasmota-tls-ca.pem").read_bytes(),
        boot_delay=0.05,
        retry_delay=0.5,
        backlog_delay=0.01,
        restart_delay=0.05,
        rule_timer_scale=0.02,
    )
    async with fleet:
        events = collect_events(hass)
        macs = [device.mac for device in fleet.devices]
        for device in fleet.devices:

            def has_status(d: VirtualDevice = device) -> bool:
                return _has_status(hass, entry.entry_id, d.mac)

            await wait_for(hass, has_status, 30)
        for device in fleet.devices:
            ha_device = device_of(hass, device.mac)
            await hass.services.async_call(
                DOMAIN, "enroll", {"device_id": ha_device.id}, blocking=True
            )

            def connected(d: VirtualDevice = device) -> bool:
                sensor = state_of(hass, "sensor", f"{entry.entry_id}_{d.mac}_tls_status")
                return sensor.state == "connected_tls"

            await wait_for(hass, connected, 60)
        path = state_path(hass, entry.data["store_id"])
        state = json.loads(await hass.async_add_executor_job(path.read_text))
        logins = state["logins"]
        assert set(logins) == {device.topic for device in fleet.devices}, state.keys()
        # Each device: on TLS with its own certificate and its own add-on login.
        for device in fleet.devices:
            assert device.tls_active
            assert device.settings.mqtt_user == device.topic
            assert device.settings.mqtt_password == logins[device.topic]
            await addon_world.broker.async_wait_for_log(connected_line(user=device.topic))
        stored = addon_world.supervisor.stored
        assert {"username": "DVES_USER", "password": "DVES_PASS"} in stored["logins"]
        assert {item["username"] for item in stored["logins"]} == {"DVES_USER", *logins}

        # Isolation and a borrowed login, with the BearSSL client and device A's certificate.
        a, b, c = fleet.devices
        files = tmp_path / "keys"
        files.mkdir()
        assert a.settings.tlskey1 is not None
        assert a.settings.tlskey2 is not None
        (files / "a.key").write_bytes(a.settings.tlskey1)
        (files / "a.der").write_bytes(a.settings.tlskey2)
        common: _Endpoint = {
            "host": "127.0.0.1", "port": port(8883), "server_name": BROKER_NAME,
            "key_file": files / "a.key", "cert_file": files / "a.der", "wait_ms": 800,
        }  # fmt: skip
        own = await async_run_client(
            client, **common, client_id="probe-a", username=a.topic, password=logins[a.topic],
            subscribe=[f"cmnd/{b.topic}/#", f"cmnd/{a.topic}/#"],
            publish=[(f"cmnd/{b.topic}/POWER", "TOGGLE"), (f"cmnd/{a.topic}/POWER", "")],
        )  # fmt: skip
        assert own.connected, own.stderr
        topics = [topic for topic, _ in own.messages]
        assert f"cmnd/{a.topic}/POWER" in topics  # its own command topic works
        assert not any(t.startswith(f"cmnd/{b.topic}/") for t in topics)
        # A's certificate with B's login: accepted, with B's rights and only B's. The add-on
        # has no use_identity_as_username, so nothing ties the certificate to the login.
        borrowed = await async_run_client(
            client, **common, client_id="probe-ab", username=b.topic, password=logins[b.topic],
            subscribe=[f"cmnd/{b.topic}/#", f"cmnd/{c.topic}/#"],
            publish=[(f"cmnd/{b.topic}/POWER", ""), (f"cmnd/{c.topic}/POWER", "")],
        )  # fmt: skip
        assert borrowed.connected, borrowed.stderr
        seen = [topic for topic, _ in borrowed.messages]
        assert f"cmnd/{b.topic}/POWER" in seen
        assert not any(t.startswith(f"cmnd/{c.topic}/") for t in seen)
        # No certificate-free way in: the right login with a wrong password is refused.
        wrong = await async_run_client(
            client, **common, client_id="probe-x", username=a.topic, password="not-it"
        )
        assert not wrong.connected

        # Revoke A: its login goes, the add-on restarts, then refuses it; B and C come back.
        restarts = addon_world.supervisor.restarts
        await hass.services.async_call(
            DOMAIN, "revoke", {"device_id": device_of(hass, a.mac).id}, blocking=True
        )
        await wait_for(
            hass, lambda: any(e["type"] == "addon_revocation_effective" for e in events), 90
        )
        assert addon_world.supervisor.restarts == restarts + 1
        assert a.topic not in {item["username"] for item in addon_world.supervisor.stored["logins"]}
        refused = await async_run_client(
            client, **common, client_id="probe-a2", username=a.topic, password=logins[a.topic]
        )
        assert not refused.connected
        code = await hass.async_add_executor_job(
            mqtt_login_code, "127.0.0.1", port(1883), a.topic, logins[a.topic]
        )
        assert code != 0
        for device in (b, c):
            await device.wait_state(lambda d: d.connected and d.tls_active, 30)
        acl = (addon_world.share_dir / "mosquitto" / "tasmota-tls.acl").read_text()
        assert f"user {a.topic}\n" not in acl
        assert f"user {b.topic}\n" in acl

        # The passwords are in no log line, event or state.
        places = caplog.text + repr(events) + repr(hass.states.async_all())
        for password in logins.values():
            assert password not in places
    for loaded in (entry, mqtt_entry):
        if loaded.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(loaded.entry_id)
    await hass.async_block_till_done()
    assert macs


def _has_status(hass: HomeAssistant, entry_id: str, mac: str) -> bool:
    try:
        return state_of(hass, "sensor", f"{entry_id}_{mac}_tls_status").state == "not_enrolled"
    except (AssertionError, KeyError, LookupError):
        return False
