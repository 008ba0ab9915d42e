"""HomeAssistantTransport: Home Assistant's MQTT client on a real Mosquitto drives an enrolment.

The same flow as test_engine_virtual.py's happy path, but every subscription and
publication goes through homeassistant.components.mqtt and HTTP through Home
Assistant's shared aiohttp session.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentError, EnrolmentStep
from custom_components.tasmota_tls.enrolment.ha_transport import HomeAssistantTransport

from .helpers import JournalLog
from .virtual_world import USER_RULE, World, mqtt_settings, rule_slot, set_user_rule


@pytest.fixture(autouse=True)
def no_mqtt_discovery_flows() -> Generator[None]:
    """The devices' tasmota/discovery messages must not start the core Tasmota integration.

    (Its library is not installed here; the flow it would start only fails.)
    """
    with patch(
        "homeassistant.components.mqtt.discovery.async_get_mqtt", AsyncMock(return_value={})
    ):
        yield


async def setup_mqtt(hass: HomeAssistant, w: World, config_dir: Path) -> MockConfigEntry:
    """Home Assistant's MQTT integration, connected to the test broker's plain listener."""
    (config_dir / "configuration.yaml").write_text("")  # mqtt reads it for YAML items
    hass.config.config_dir = str(config_dir)
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={mqtt.CONF_BROKER: "127.0.0.1", "port": w.plain_port},
        options={mqtt.CONF_BIRTH_MESSAGE: {}},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert await mqtt.async_wait_for_mqtt_client(hass)
    await hass.async_block_till_done()
    return entry


async def test_enrol_through_home_assistant(
    hass: HomeAssistant,
    world: Any,
    make_issuer: Any,
    journal: JournalLog,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "custom_components.tasmota_tls.enrolment")
    async with world() as w:
        entry = await setup_mqtt(hass, w, tmp_path)
        try:
            set_user_rule(w.virtual)
            enroller = Enroller(HomeAssistantTransport(hass), w.options(channel="mqtt"))
            record = await enroller.enrol(w.device, w.issuer(make_issuer), journal)
            assert record.step == EnrolmentStep.DONE
            assert w.virtual.tls_active
            assert mqtt_settings(w.virtual) == ("localhost", w.tls_port, 1)
            assert rule_slot(w.virtual) == (USER_RULE, 1)
            # Subscriptions were awaited through the client, not by the fallback sleep.
            assert "internals changed" not in caplog.text
        finally:
            assert await hass.config_entries.async_unload(entry.entry_id)


async def test_http_errors_through_home_assistant(
    hass: HomeAssistant,
    world: Any,
    make_issuer: Any,
    journal: JournalLog,
    tmp_path: Path,
) -> None:
    async with world(web_password="secret") as w:
        entry = await setup_mqtt(hass, w, tmp_path)
        try:
            enroller = Enroller(HomeAssistantTransport(hass), w.options(web_password="nope"))
            try:
                await enroller.enrol(w.device, w.issuer(make_issuer), journal)
            except EnrolmentError as err:
                assert err.reason == "auth_failed"
                assert "nope" not in str(err)
            else:
                raise AssertionError("a wrong web password must fail")
        finally:
            assert await hass.config_entries.async_unload(entry.entry_id)
