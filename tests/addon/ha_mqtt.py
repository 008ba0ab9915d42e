"""Home Assistant's MQTT integration on the stand-in add-on, logged in as the add-on's
`homeassistant` system user, as the MQTT integration is on Home Assistant OS."""

from __future__ import annotations

import asyncio

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.addon.service import port

from .addon_mosquitto import AddonMosquitto


async def async_setup_mqtt_on_addon(hass: HomeAssistant, addon: AddonMosquitto) -> MockConfigEntry:
    """The MQTT entry, set up and connected."""
    system = addon.system_users()
    mqtt_entry = MockConfigEntry(
        domain="mqtt",
        data={
            "broker": "127.0.0.1",
            "port": port(1883),
            "username": "homeassistant",
            "password": system["homeassistant"],
        },
        # No birth message: HA publishes it from a background task right after each
        # (re)connect, and when the broker stops at that moment (every add-on restart
        # here) the task fails and is logged as an error; it is HA's, not ours.
        options={"birth_message": {}},
        version=1,
        minor_version=2,
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    for _ in range(100):  # no bus event says so: poll
        if mqtt.is_connected(hass):
            break
        await asyncio.sleep(0.2)
    assert mqtt.is_connected(hass)
    return mqtt_entry
