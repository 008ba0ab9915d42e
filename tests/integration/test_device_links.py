"""Our entities on the Tasmota integration's device: one device per MAC, whatever comes first.

Home Assistant's own Tasmota integration (HATasmota, the pin of the Home Assistant under
test) runs here on the same mocked MQTT as ours and registers the device from the same
discovery config, with its relay as a switch.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.tasmota_tls.const import DOMAIN
from tests.helpers.constants import MAC

from .helpers import device_of, setup_tasmota, wait_for
from .install import Installed, discovery_payload, install
from .mqtt_bus import MqttBus

CONFIG_TOPIC = f"tasmota/discovery/{MAC}/config"
OUR_KEYS = ("tls_status", "certificate_expiry", "failure_reason", "tls_connected", "enrol", "renew")


def platforms_on(hass: HomeAssistant, device: dr.DeviceEntry) -> dict[str, set[str]]:
    """Integration -> entity IDs of the entities linked to ``device``."""
    found: dict[str, set[str]] = {}
    for entity in er.async_entries_for_device(er.async_get(hass), device.id):
        found.setdefault(entity.platform, set()).add(entity.entity_id)
    return found


def our_unique_ids(hass: HomeAssistant, device: dr.DeviceEntry) -> set[str]:
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    return {entity.unique_id for entity in entities if entity.platform == DOMAIN}


def expected_ids(installed: Installed) -> set[str]:
    return {f"{installed.entry.entry_id}_{MAC}_{key}" for key in OUR_KEYS}


async def wait_until_linked(hass: HomeAssistant, installed: Installed, domain: str) -> None:
    """Until all our entities of MAC sit on the one device, owned by ``domain``'s entry."""

    def linked() -> bool:
        devices = dr.async_get(hass).async_get_devices(connections={_connection()})
        if len(devices) != 1:
            return False
        owner = hass.config_entries.async_get_entry(devices[0].config_entry_id)
        return (
            owner is not None
            and owner.domain == domain
            and our_unique_ids(hass, devices[0]) == expected_ids(installed)
        )

    await wait_for(hass, linked, 15)


def _connection() -> tuple[str, str]:
    return (dr.CONNECTION_NETWORK_MAC, "a4:cf:12:ab:cd:ef")


async def test_the_tasmota_device_shows_its_entities_and_ours(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    tasmota = await setup_tasmota(hass)
    installed = await install(hass)
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_until_linked(hass, installed, "tasmota")

    device = device_of(hass, MAC)  # exactly one device for the MAC
    assert device.config_entry_id == tasmota.entry_id  # ours is never added to it
    assert device.name == "Kitchen plug"
    on_device = platforms_on(hass, device)
    assert "switch.kitchen_plug" in on_device["tasmota"]  # Tasmota's relay
    assert our_unique_ids(hass, device) == expected_ids(installed)
    # Our entry owns only the CA's service device.
    ours = dr.async_entries_for_config_entry(dr.async_get(hass), installed.entry.entry_id)
    assert [d.entry_type for d in ours] == [dr.DeviceEntryType.SERVICE]
    # Actions find the device through the Tasmota device's MAC connection.
    state = hass.states.get(next(iter(on_device[DOMAIN] & {"sensor.kitchen_plug_tls_status"})))
    assert state is not None and state.state == "not_enrolled"


async def test_removing_our_entry_leaves_the_tasmota_device(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    await setup_tasmota(hass)
    installed = await install(hass)
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_until_linked(hass, installed, "tasmota")

    assert await hass.config_entries.async_remove(installed.entry.entry_id)
    await hass.async_block_till_done()
    device = device_of(hass, MAC)
    left = platforms_on(hass, device)
    assert set(left) == {"tasmota"}
    assert "switch.kitchen_plug" in left["tasmota"]
    assert not [e for e in er.async_get(hass).entities.values() if e.platform == DOMAIN]


async def test_our_entities_go_with_a_removed_tasmota_device_and_come_back(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """Nothing orphaned: the certificate stays in the CA, the entities follow the device.

    The device withdraws its discovery config (as when the user deletes it in the Tasmota
    integration, which clears the retained config), and Tasmota removes its device.
    """
    await setup_tasmota(hass)
    installed = await install(hass)
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_until_linked(hass, installed, "tasmota")

    mqtt_bus.retain(CONFIG_TOPIC, "")

    def gone() -> bool:
        registry = dr.async_get(hass)
        ours = [e for e in er.async_get(hass).entities.values() if MAC in e.unique_id]
        return not registry.async_get_devices(connections={_connection()}) and not ours

    await wait_for(hass, gone, 15)
    await hass.async_block_till_done()
    assert installed.entry.state.recoverable  # reloaded, loaded

    # It announces itself again: one device, Tasmota's, with our entities on it.
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_until_linked(hass, installed, "tasmota")


async def test_a_tasmota_device_that_appears_later_takes_our_entities(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass)
    mqtt_bus.retain(CONFIG_TOPIC, discovery_payload())
    await wait_until_linked(hass, installed, DOMAIN)  # no Tasmota integration yet: ours

    await setup_tasmota(hass)
    await wait_until_linked(hass, installed, "tasmota")
    registry = dr.async_get(hass)
    assert registry.async_get_device_by_identifier((DOMAIN, MAC), installed.entry.entry_id) is None
    assert "switch.kitchen_plug" in platforms_on(hass, device_of(hass, MAC))["tasmota"]
