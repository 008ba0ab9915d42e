"""The read model's pushes: one device's change refreshes that device's entities only."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from tests.helpers.constants import MAC

from .install import discovery_payload, install
from .mqtt_bus import MqttBus

OTHER = "A4CF12000002"


async def test_a_device_change_reaches_its_own_listeners_and_the_ca_once(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass)
    view = installed.entry.runtime_data.view
    calls: list[str] = []
    view.async_add_listener(lambda: calls.append(MAC), MAC)
    view.async_add_listener(lambda: calls.append(OTHER), OTHER)
    view.async_add_listener(lambda: calls.append("ca"), None)

    view.async_notify(MAC)
    view.async_notify(MAC)
    assert calls == [MAC, MAC]  # the CA's entities wait for the end of the loop pass
    await hass.async_block_till_done()
    assert calls == [MAC, MAC, "ca"]

    calls.clear()
    view.async_notify()  # everything
    assert sorted(calls) == sorted([MAC, OTHER, "ca"])


async def test_the_view_of_a_discovered_device(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    installed = await install(hass)
    view = installed.entry.runtime_data.view
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())
    await hass.async_block_till_done()
    assert MAC in view.devices
    assert view.status(MAC) == "not_enrolled"
    assert view.certificate(MAC) is None and view.record(MAC) is None
    assert view.failure_reason(MAC) == "none"
    assert not view.is_busy(MAC) and view.progress(MAC) == {}
