"""A renewed broker certificate reaches the add-on: /ssl rewritten, restarted, 8883 checked.

The add-on reads its certificate files only when it starts, so a renewal that only
rewrote the exported bundle would leave it presenting the old certificate until that
expired, and every device with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType

from custom_components.tasmota_tls.addon.probe import presented_certificate_sha256
from custom_components.tasmota_tls.addon.service import port
from custom_components.tasmota_tls.broker_renewal import async_check_broker_expiry
from custom_components.tasmota_tls.const import DOMAIN, EVENT_TASMOTA_TLS
from custom_components.tasmota_tls.models import TasmotaTlsData

from .flow import BROKER_NAME, PASSPHRASE, async_flow_to_confirm
from .ha_mqtt import async_setup_mqtt_on_addon
from .world import AddonWorld


def _served_broker_sha256(world: AddonWorld) -> str:
    chain = (world.ssl_dir / "tasmota-tls-broker.pem").read_bytes()
    first = x509.load_pem_x509_certificates(chain)[0]
    return hashlib.sha256(first.public_bytes(serialization.Encoding.DER)).hexdigest()


async def _async_applied_entry(hass: HomeAssistant, world: AddonWorld) -> TasmotaTlsData:
    """MQTT on the add-on, then the config flow applied: the entry's runtime data."""
    await async_setup_mqtt_on_addon(hass, world.addon)
    result = await async_flow_to_confirm(hass)
    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY, done
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    return entry.runtime_data


@pytest.mark.usefixtures("mock_hass_config")
async def test_renewal_rewrites_ssl_and_restarts_the_addon(
    hass: HomeAssistant, addon_world: AddonWorld
) -> None:
    data = await _async_applied_entry(hass, addon_world)
    before = data.ca.snapshot
    assert before is not None and before.broker_not_after is not None
    old_served = await hass.async_add_executor_job(
        presented_certificate_sha256, "127.0.0.1", port(8883), BROKER_NAME
    )
    assert old_served == _served_broker_sha256(addon_world)
    restarts = addon_world.supervisor.restarts
    events: list[dict[str, Any]] = []

    @callback
    def seen(event: Event) -> None:
        events.append(dict(event.data))

    hass.bus.async_listen(EVENT_TASMOTA_TLS, seen)
    now = before.broker_not_after - dt.timedelta(days=29)  # inside the renewal window
    after = await async_check_broker_expiry(
        hass, data.settings, data.ca, data.bundle, before, now, PASSPHRASE
    )
    await hass.async_block_till_done()

    # Renewed within the same second, not_after may equal the old one: the serial differs.
    assert after is not before
    assert addon_world.supervisor.restarts == restarts + 1
    served = await hass.async_add_executor_job(
        presented_certificate_sha256, "127.0.0.1", port(8883), BROKER_NAME
    )
    assert served != old_served  # a new certificate ...
    assert served == _served_broker_sha256(addon_world)  # ... the one now in /ssl
    assert after.broker_fingerprint == before.broker_fingerprint  # ... for the same key
    renewed = [e for e in events if e.get("type") == "broker_renewed"]
    assert len(renewed) == 1 and renewed[0]["addon_serves_it"] is True


@pytest.mark.usefixtures("mock_hass_config")
async def test_a_failed_restart_is_reported_not_hidden(
    hass: HomeAssistant, addon_world: AddonWorld, caplog: pytest.LogCaptureFixture
) -> None:
    data = await _async_applied_entry(hass, addon_world)
    before = data.ca.snapshot
    assert before is not None and before.broker_not_after is not None
    addon_world.supervisor.fail_restart = True
    events: list[dict[str, Any]] = []
    hass.bus.async_listen(EVENT_TASMOTA_TLS, lambda event: events.append(dict(event.data)))
    now = before.broker_not_after - dt.timedelta(days=29)
    await async_check_broker_expiry(
        hass, data.settings, data.ca, data.bundle, before, now, PASSPHRASE
    )
    await hass.async_block_till_done()
    renewed = [e for e in events if e.get("type") == "broker_renewed"]
    assert len(renewed) == 1 and renewed[0]["addon_serves_it"] is False
    assert "does not serve the renewed broker certificate" in caplog.text
    assert PASSPHRASE not in caplog.text
