"""The automation blueprint in blueprints/ loads in Home Assistant and notifies as it says."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_mock_service

from tests.helpers.constants import MAC

from .helpers import entity_id, wait_for
from .install import BROKER_HOST, TOPIC, discovery_payload, install, issue_short_lived
from .mqtt_bus import MqttBus
from .playback_device import answer_status6

AUTOMATION = "automation.certificates"
BLUEPRINT = Path(__file__).parents[2] / "blueprints" / "automation" / "tasmota_tls"


async def setup_blueprint(hass: HomeAssistant, days: int = 14) -> list[ServiceCall]:
    target = Path(hass.config.path("blueprints", "automation", "tasmota_tls"))
    await hass.async_add_executor_job(shutil.copytree, BLUEPRINT, target)
    calls = async_mock_service(hass, "notify", "phone")
    config = {
        "automation": {
            "id": "tls",
            "alias": "Certificates",
            "use_blueprint": {
                "path": "tasmota_tls/certificates.yaml",
                "input": {
                    "days": days,
                    "notify": [{"action": "notify.phone", "data": {"message": "{{ message }}"}}],
                },
            },
        }
    }
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    assert hass.states.get(AUTOMATION) is not None
    return calls


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the daily time trigger
async def test_a_failed_enrolment_notifies(hass: HomeAssistant) -> None:
    calls = await setup_blueprint(hass)
    hass.bus.async_fire(
        "tasmota_tls_event",
        {"type": "enrolment_failed", "device_id": "x", "mac": "A4CF12ABCDEF",
         "reason": "no_tlskey_support", "operation": "enrol"},
    )  # fmt: skip
    await hass.async_block_till_done()
    assert len(calls) == 1
    message = calls[0].data["message"]
    assert "enrol of A4CF12ABCDEF failed (no_tlskey_support)" in " ".join(message.split())
    hass.bus.async_fire("tasmota_tls_event", {"type": "enrolled", "device_id": "x"})
    await hass.async_block_till_done()
    assert len(calls) == 1  # only failures


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the daily time trigger
async def test_the_daily_check_lists_certificates_within_the_window(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """On a real entry: a device whose certificate expires in 10 days is listed."""
    installed = await install(hass, options={"auto_renew": False}, prepare=issue_short_lived())
    answer_status6(mqtt_bus, TOPIC, {"MqttHost": BROKER_HOST, "MqttPort": 8883, "MqttTLS": 1})
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    expiry = f"{installed.entry.entry_id}_{MAC}_certificate_expiry"
    await wait_for(hass, lambda: hass.states.get(entity_id(hass, "sensor", expiry)) is not None)
    calls = await setup_blueprint(hass, days=11)
    await hass.services.async_call(
        "automation", "trigger", {"entity_id": AUTOMATION, "skip_condition": False}, blocking=True
    )
    await hass.async_block_till_done()
    assert len(calls) == 1
    message = " ".join(calls[0].data["message"].split())
    assert re.search(r"within 11 days: Kitchen plug Certificate expiry on \d{4}-", message), message
    assert "broker" not in message.lower()

    calls.clear()
    await hass.config_entries.async_unload(installed.entry.entry_id)  # no certificate listed
    await hass.services.async_call(
        "automation", "trigger", {"entity_id": AUTOMATION, "skip_condition": False}, blocking=True
    )
    await hass.async_block_till_done()
    assert calls == []  # nothing within the window: no notification
