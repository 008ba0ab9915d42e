"""A certificate is a device's only when it was issued for that MAC; its name never links it."""

from __future__ import annotations

import datetime as dt

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import IndexEntry, PkiStore
from tests.helpers.constants import MAC

from .helpers import device_of, state_of, wait_for
from .install import PASSPHRASE, discovery_payload, install
from .mqtt_bus import MqttBus

TOPIC = "plug_abcdef"


def test_index_entries_without_a_mac_still_load() -> None:
    """Stores written before MACs were recorded read back unchanged."""
    old = {
        "serial": "1a",
        "cn": TOPIC,
        "kind": "device",
        "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2027-01-01T00:00:00+00:00",
        "status": "valid",
        "revoked_at": None,
        "reason": None,
        "topic": TOPIC,
    }
    entry = IndexEntry.from_json(old)
    assert entry.mac is None
    assert entry.to_json() == old
    bound = IndexEntry.from_json({**old, "mac": MAC})
    assert bound.mac == MAC and bound.to_json()["mac"] == MAC
    assert bound.not_after == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


async def test_a_certificate_found_by_name_is_not_the_devices(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    def issue_by_name(store: PkiStore) -> None:
        store.issue_device(PASSPHRASE, TOPIC, topic=TOPIC)  # no MAC: issued elsewhere

    installed = await install(hass, prepare=issue_by_name)
    entry_id = installed.entry.entry_id
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload(topic=TOPIC))
    unique_id = f"{entry_id}_{MAC}_tls_status"
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("sensor")))
    await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "not_enrolled")
    view = installed.entry.runtime_data.view
    assert view.certificate(MAC) is None
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "renew", {"device_id": device_of(hass, MAC).id}, blocking=True
        )
    assert refused.value.translation_key == "not_enrolled"
    assert view.expiring(dt.timedelta(days=10_000)) == []
