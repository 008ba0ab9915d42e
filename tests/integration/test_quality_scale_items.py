"""Quality-scale items: translated store failures, split issue texts, and snapshots of
every entity's state and registry entry and of the diagnostics (syrupy)."""

from __future__ import annotations

import json
import re
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiError, PkiStore
from tests.helpers.constants import MAC

from .actions import start_fix, submit_fix
from .helpers import device_of, state_of, wait_for
from .install import BROKER_HOST, PASSPHRASE, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice

# Values that differ on every run (dates, serials, keys, IDs): replaced before comparing.
VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00|\b[0-9a-f]{20,}\b|\b[0-9A-F]{2}( [0-9A-F]{2}){19}\b"
)


def stable(data: Any, entry_id: str) -> Any:
    """``data`` as JSON-compatible values with the run's volatile parts replaced."""
    text = json.dumps(data, sort_keys=True, default=str).replace(entry_id, "ENTRY_ID")
    return json.loads(VOLATILE.sub("VOLATILE", text))


async def enrolled(hass: HomeAssistant, mqtt_bus: MqttBus) -> tuple[Any, PlaybackDevice]:
    installed = await install(hass, options={"channel": "mqtt"})
    device = PlaybackDevice(
        mqtt_bus,
        BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, installed.broker_fingerprint),
        mac=MAC,
    )
    device.announce()
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    await hass.services.async_call(
        DOMAIN, "enrol", {"device_id": device_of(hass, MAC).id}, blocking=True
    )
    entry_id = installed.entry.entry_id
    await wait_for(
        hass,
        lambda: state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state == "connected_tls",
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return installed, device


async def test_entities_and_diagnostics_snapshot(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Every entity (state, attributes, category, default enablement) and the diagnostics."""
    installed, device = await enrolled(hass, mqtt_bus)
    entry_id = installed.entry.entry_id
    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, entry_id)
    assert len(entities) >= 10  # the CA's sensors and the device's entities
    described = {}
    for entity in sorted(entities, key=lambda e: e.unique_id):
        state = hass.states.get(entity.entity_id)
        described[entity.unique_id] = {
            "entity_id": entity.entity_id,
            "translation_key": entity.translation_key,
            "entity_category": entity.entity_category,
            "disabled_by": entity.disabled_by,
            "device_class": entity.device_class or entity.original_device_class,
            "state": state.state if state else None,
            "attributes": dict(state.attributes) if state else None,
        }
    assert stable(described, entry_id) == snapshot(name="entities")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, installed.entry)
    text = json.dumps(diagnostics)
    # No MAC (in any spelling), device IP, host name, topic or broker name in the report.
    for identifier in (MAC, MAC.lower(), device.settings.topic, BROKER_HOST, "127.0.0."):
        assert identifier not in text, identifier
    assert stable(diagnostics, entry_id) == snapshot(name="diagnostics")


async def test_diagnostics_download_when_the_store_cannot_be_read(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    installed = await install(hass)
    ca = installed.entry.runtime_data.ca
    with patch.object(type(ca), "async_refresh", side_effect=PkiError("index unreadable")):
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, installed.entry)
    assert diagnostics["ca"]["store_error"] == "PkiError"
    assert diagnostics["ca"]["name"]  # the last reading, still reported


async def test_a_store_failure_in_the_passphrase_check_is_translated(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, custody="attended")
    custody = installed.entry.runtime_data.custody
    with (
        patch.object(PkiStore, "check_passphrase", side_effect=OSError("EIO")),
        pytest.raises(HomeAssistantError) as err,
    ):
        await custody.async_passphrase(PASSPHRASE)
    assert err.value.translation_key == "store_error"
    assert err.value.translation_placeholders == {"error": "EIO"}


async def test_attended_crl_repair_reports_a_store_failure(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    """The fixable text is used, and a failing CRL signature is a form error, not a 500."""

    def short_crl(store: PkiStore) -> None:
        store.generate_crl(PASSPHRASE, days=7)

    installed = await install(hass, custody="attended", prepare=short_crl)
    entry_id = installed.entry.entry_id
    found = ir.async_get(hass).async_get_issue(DOMAIN, f"crl_stale_{entry_id}")
    assert found is not None and found.is_fixable
    assert found.translation_key == "crl_stale_fixable"
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    flow = await start_fix(client, f"crl_stale_{entry_id}")
    assert flow["description_placeholders"]["next_update"] != "-"
    ca = installed.entry.runtime_data.ca
    with patch.object(type(ca), "async_generate_crl", side_effect=PkiError("disk full")):
        flow = await submit_fix(client, flow["flow_id"], {"passphrase": PASSPHRASE})
    assert flow["type"] == "form"
    assert flow["errors"] == {"base": "store_error"}
    flow = await submit_fix(client, flow["flow_id"], {"passphrase": PASSPHRASE})
    assert flow["type"] == "create_entry"


async def test_unattended_crl_issue_uses_the_description_text(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """With the passphrase kept, a CRL that cannot be signed is reported, not fixable."""

    def short_crl(store: PkiStore) -> None:
        store.generate_crl(PASSPHRASE, days=7)

    with patch(
        "custom_components.tasmota_tls.ca.CertificateAuthority.async_generate_crl",
        side_effect=PkiError("disk full"),
    ):
        installed = await install(hass, prepare=short_crl)
    found = ir.async_get(hass).async_get_issue(DOMAIN, f"crl_stale_{installed.entry.entry_id}")
    assert found is not None
    assert not found.is_fixable and found.translation_key == "crl_stale"
