"""Setting up, unloading and removing an entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.tasmota_tls.const import DOMAIN

from .helpers import state_of
from .install import install
from .mqtt_bus import MqttBus


async def test_setup_and_unload(
    hass: HomeAssistant, mqtt_bus: MqttBus, mqtt_mock: MqttMockHAClient
) -> None:
    """The CA device shows the CA's dates; unattended custody signs a CRL at start."""
    installed = await install(hass)
    entry = installed.entry
    assert entry.state is ConfigEntryState.LOADED
    ca = await hass.async_add_executor_job(installed.store.ca_certificate)
    broker = await hass.async_add_executor_job(installed.store.broker_certificate)
    crl = await hass.async_add_executor_job(installed.store.crl)
    assert broker is not None
    assert crl is not None  # signed at start: none existed
    assert crl.next_update_utc is not None
    entry_id = entry.entry_id
    assert state_of(hass, "sensor", f"{entry_id}_ca_expiry").state == (
        ca.not_valid_after_utc.isoformat()
    )
    assert state_of(hass, "sensor", f"{entry_id}_broker_certificate_expiry").state == (
        broker.not_valid_after_utc.isoformat()
    )
    assert state_of(hass, "sensor", f"{entry_id}_crl_next_update").state == (
        crl.next_update_utc.isoformat()
    )
    assert state_of(hass, "sensor", f"{entry_id}_enrolled_devices").state == "0"
    assert state_of(hass, "sensor", f"{entry_id}_expiring_devices").state == "0"
    # The discovery subscription is in place.
    subscribed = [call.args[0] for call in mqtt_mock.async_subscribe.call_args_list]
    assert "tasmota/discovery/+/config" in subscribed

    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_setup_waits_for_mqtt(hass: HomeAssistant, config_dir: Path) -> None:
    """Without MQTT the entry retries later."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={"store_id": "x", "custody": "attended", "broker_host": "h", "broker_port": 8883},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_unreadable_store_fails_setup(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass)
    entry = installed.entry
    await hass.config_entries.async_unload(entry.entry_id)
    index = installed.store.directory / "index.json"
    await hass.async_add_executor_job(index.write_text, "{broken")
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    # A store that is gone entirely fails the same way.
    await hass.async_add_executor_job(shutil.rmtree, installed.store.directory)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR


async def test_removing_the_entry_keeps_the_ca_and_clears_repairs(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, ca_days=30)  # expiring CA: a repair exists
    entry_id = installed.entry.entry_id
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"ca_expiring_{entry_id}") is not None
    assert await hass.config_entries.async_remove(entry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, f"ca_expiring_{entry_id}") is None
    assert (installed.store.directory / "ca.key").is_file()


def test_strings_and_translations_match() -> None:
    base = Path(__file__).parents[2] / "custom_components" / "tasmota_tls"
    strings = json.loads((base / "strings.json").read_text())
    english = json.loads((base / "translations" / "en.json").read_text())
    assert strings == english
    services = set(strings["services"])
    assert services == {
        "enrol",
        "enroll",  # the alias of enrol (services.py)
        "renew",
        "revoke",
        "export_trust_anchor",
        "export_broker_bundle",
    }


def test_manifest_keys_in_hassfest_order() -> None:
    base = Path(__file__).parents[2]
    manifest = json.loads(
        (base / "custom_components" / "tasmota_tls" / "manifest.json").read_text()
    )
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["dependencies"] == ["mqtt"]
    # The will topic: HA's MQTT discovery gives tasmota/discovery/# to the Tasmota
    # integration only (discovery_offer.py).
    assert manifest["mqtt"] == ["tasmota/discovery/#", "tele/+/LWT"]
    assert manifest["iot_class"] == "local_push"
    assert manifest["config_flow"] is True
    for key in ("version", "codeowners", "documentation", "issue_tracker"):
        assert manifest[key]
    hacs = json.loads((base / "hacs.json").read_text())
    assert hacs["homeassistant"] == "2026.8.0"  # the oldest version scripts/test --ha oldest runs


async def test_action_descriptions_load(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    """services.yaml is valid for Home Assistant and names every registered action."""
    from homeassistant.helpers.selector import validate_selector
    from homeassistant.helpers.service import async_get_all_descriptions

    await install(hass)
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == set(hass.services.async_services_for_domain(DOMAIN))
    for description in descriptions.values():
        for field in description["fields"].values():
            validate_selector(field["selector"])
    assert descriptions["revoke"]["fields"]["reason"]["default"] == "unspecified"


def test_every_translation_key_in_the_code_has_a_text() -> None:
    """Keys used in exceptions, entities, issues, flow errors and aborts exist in strings.json."""
    import re

    base = Path(__file__).parents[2] / "custom_components" / "tasmota_tls"
    strings = json.loads((base / "strings.json").read_text())
    known = set(strings["exceptions"]) | set(strings["issues"])
    for platform in strings["entity"].values():
        known |= set(platform)
    flow_errors = set(strings["config"]["error"]) | set(strings["options"].get("error", {}))
    for issue in strings["issues"].values():
        flow_errors |= set(issue.get("fix_flow", {}).get("error", {}))
    aborts = set(strings["config"]["abort"])
    for issue in strings["issues"].values():
        aborts |= set(issue.get("fix_flow", {}).get("abort", {}))
    source = "\n".join(path.read_text() for path in base.glob("*.py"))
    used = set(re.findall(r'translation_key="(\w+)"', source))
    used |= set(re.findall(r'else "(entry_\w+)"', source))
    assert used - known == set()
    assert set(re.findall(r'errors\[[^]]+\] = "(\w+)"', source)) - flow_errors == set()
    assert set(re.findall(r'async_abort\(reason="(\w+)"\)', source)) - aborts == set()
    issue_kinds = set(re.findall(r'^ISSUE_\w+ = "(\w+)"', (base / "issues.py").read_text(), re.M))
    assert issue_kinds == set(strings["issues"])
