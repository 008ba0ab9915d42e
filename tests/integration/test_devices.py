"""Discovery, the device list and the entities that follow each device."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.tasmota_tls import async_remove_config_entry_device
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.constants import MAC

from .helpers import device_of, state_of, wait_for
from .install import PASSPHRASE, discovery_payload, install
from .mqtt_bus import MqttBus
from .playback_device import answer_status6

TOPIC = "plug_abcdef"
CONFIG_TOPIC = f"tasmota/discovery/{MAC}/config"


def issue_for_topic(store: PkiStore) -> None:
    store.issue_device(PASSPHRASE, TOPIC, topic=TOPIC, mac=MAC)


async def test_status_follows_lwt_and_status6(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass, prepare=issue_for_topic)
    entry_id = installed.entry.entry_id
    mqtt_status = {"MqttHost": "mqtt.home.lan", "MqttPort": 1883, "MqttTLS": 0}
    answer_status6(mqtt_bus, TOPIC, mqtt_status)
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())

    def tls_status() -> str:
        return state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status").state

    def connected() -> str:
        return state_of(hass, "binary_sensor", f"{entry_id}_{MAC}_tls_connected").state

    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    await wait_for(hass, lambda: tls_status() == "connected_plain")
    assert connected() == "off"
    issued = await hass.async_add_executor_job(installed.store.find, TOPIC)
    expiry = state_of(hass, "sensor", f"{entry_id}_{MAC}_certificate_expiry")
    assert expiry.state == issued.not_after.isoformat()

    # It reconnects over TLS: Online again, and Status 6 says so.
    mqtt_status.update(MqttPort=8883, MqttTLS=1)
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Offline")
    await wait_for(hass, lambda: tls_status() == "offline")
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Online")
    await wait_for(hass, lambda: tls_status() == "connected_tls")
    assert connected() == "on"

    # Firmware older than MqttTLS: the TLS port decides.
    del mqtt_status["MqttTLS"]
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Offline")
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Online")
    await wait_for(hass, lambda: tls_status() == "connected_tls")
    mqtt_status["MqttPort"] = 1883
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Offline")
    mqtt_bus.retain(f"tele/{TOPIC}/LWT", "Online")
    await wait_for(hass, lambda: tls_status() == "connected_plain")


async def test_device_without_certificate_is_not_enrolled(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass)
    answer_status6(mqtt_bus, TOPIC, {"MqttHost": "x", "MqttPort": 1883, "MqttTLS": 0})
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    entry_id = installed.entry.entry_id
    state = state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status")
    assert state.state == "not_enrolled"
    assert state.attributes["serial"] is None
    assert state_of(hass, "sensor", f"{entry_id}_{MAC}_certificate_expiry").state == "unknown"


async def test_removed_device(
    hass: HomeAssistant, mqtt_bus: MqttBus, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty discovery payload makes the entities unavailable; then it may be removed."""
    installed = await install(hass)
    entry = installed.entry
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    device = device_of(hass, MAC)
    ca_device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert ca_device is not None

    assert not await async_remove_config_entry_device(hass, entry, device)
    mqtt_bus.retain(CONFIG_TOPIC, "")
    await wait_for(
        hass,
        lambda: (
            state_of(hass, "sensor", f"{entry.entry_id}_{MAC}_tls_status").state
            == STATE_UNAVAILABLE
        ),
    )
    assert "Tasmota A4CF12ABCDEF removed its discovery config" in caplog.text
    # Back again: available, and logged once.
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_for(
        hass,
        lambda: (
            state_of(hass, "sensor", f"{entry.entry_id}_{MAC}_tls_status").state
            != STATE_UNAVAILABLE
        ),
    )
    assert "Tasmota A4CF12ABCDEF announced itself again" in caplog.text
    mqtt_bus.retain(CONFIG_TOPIC, "")
    await hass.async_block_till_done()
    assert await async_remove_config_entry_device(hass, entry, device)
    assert entry.runtime_data.view.device_state(MAC) is None
    # The CA's own device stays.
    assert not await async_remove_config_entry_device(hass, entry, ca_device)


async def test_ip_change_updates_the_device(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass)
    view = installed.entry.runtime_data.view
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload(ip="127.0.0.2"))
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload(ip="127.0.0.3"))
    await wait_for(hass, lambda: view.device_state(MAC).device.ip == "127.0.0.3")
    # The same device, not a second one.
    assert len(hass.states.async_entity_ids("button")) == 2


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (CONFIG_TOPIC, "{not json"),
        (CONFIG_TOPIC, discovery_payload(mac="A4CF12000000")),  # names another MAC
        ("tasmota/discovery/XYZ/config", discovery_payload()),
    ],
)
async def test_bad_discovery_is_ignored(
    hass: HomeAssistant, mqtt_bus: MqttBus, topic: str, payload: str
) -> None:
    installed = await install(hass)
    mqtt_bus.retain(topic, payload)
    await hass.async_block_till_done()
    assert installed.entry.runtime_data.view.devices == {}
    assert hass.states.async_entity_ids("button") == []
