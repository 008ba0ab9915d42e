"""A discovery config that moves an enrolled device gets no key until the user confirms.

Anyone who can publish on the broker can publish ``tasmota/discovery/<MAC>/config``
for a MAC we enrolled, with another IP or topic. The device is enrolled here (played
back on the mocked bus), then such a config arrives: renew and enrol are refused,
automatic renewal skips the device, nothing reaches the new web server and no
TLSKey command is published, until the repair flow confirms the new address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tasmota_tls.const import DOMAIN
from tests.helpers.constants import MAC
from tests.helpers.mosquitto import free_port

from .actions import press
from .devices import enrolled_device, tls_status, tlskey_publishes
from .helpers import WebRecorder, collect_events, device_of, entity_id, wait_for
from .install import BROKER_HOST, discovery_payload
from .mqtt_bus import MqttBus

TOPIC = "tasmota_ABCDEF"
SPOOF_IP = "127.0.0.9"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[WebRecorder, int]]:
    """Listens on SPOOF_IP at a free port (the entry's http_port in the test)."""
    recorder = WebRecorder()
    app = web.Application()
    app.router.add_get("/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, SPOOF_IP, port).start()
    try:
        yield recorder, port
    finally:
        await runner.cleanup()


def pin(ip: str, topic: str) -> dict[str, Any]:
    """A pinned address: the IP and every topic root, with what they were built from."""
    return {
        "ip": ip,
        "command_topic": f"cmnd/{topic}/",
        "topic": topic,
        "full_topic": "%prefix%/%topic%/",
        "prefixes": ["cmnd", "stat", "tele"],
        "hostname": "tasmota-abcdef",
        "stat_topic": f"stat/{topic}/",
        "tele_topic": f"tele/{topic}/",
    }


def address_issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"address_changed_{entry_id}_{MAC}")


async def refused_everywhere(hass: HomeAssistant, entry: Any) -> None:
    """Button, actions and automatic renewal: none starts an operation."""
    device_id = device_of(hass, MAC)
    assert device_id is not None
    for attempt in ("renew_button", "enrol_button", "renew", "enrol", "enroll"):
        with pytest.raises(ServiceValidationError) as refused:
            if attempt.endswith("_button"):
                await press(hass, entry.entry_id, attempt.removesuffix("_button"))
            else:
                await hass.services.async_call(
                    DOMAIN, attempt, {"device_id": device_id.id}, blocking=True
                )
        assert refused.value.translation_key == "address_changed"
    data = entry.runtime_data
    data.operations.async_start_renewal(MAC, "unattended passphrase")  # what the lifecycle calls
    assert not data.view.is_busy(MAC)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_spoofed_address_gets_no_key(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    hass_storage: dict[str, Any],
    recorder: tuple[WebRecorder, int],
) -> None:
    """Another IP and topic for an enrolled MAC: no HTTP request, no TLSKey publish."""
    web_recorder, port = recorder
    installed, device = await enrolled_device(hass, mqtt_bus)
    entry = installed.entry
    pins = hass_storage[f"{DOMAIN}.{entry.entry_id}.address_pins"]["data"]
    assert pins == {MAC: pin("127.0.0.2", TOPIC)}
    # Keys would now travel over HTTP, to the port the spoofed address listens on.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "channel": "http", "http_port": port}
    )
    await hass.async_block_till_done()
    await wait_for(hass, lambda: tls_status(hass, entry.entry_id) == "connected_tls")
    serial = hass_storage[f"{DOMAIN}.{entry.entry_id}.journal"]["data"]["certificates"][MAC]
    mark = len(mqtt_bus.published)

    spoof = discovery_payload(mac=MAC, ip=SPOOF_IP, topic="evil_plug")
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", spoof)
    await wait_for(hass, lambda: address_issue(hass, entry.entry_id) is not None)
    found = address_issue(hass, entry.entry_id)
    assert found is not None and found.is_fixable
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["old_ip"] == "127.0.0.2"
    assert found.translation_placeholders["new_ip"] == SPOOF_IP
    assert found.translation_placeholders["new_topic"] == "cmnd/evil_plug/"

    await refused_everywhere(hass, entry)
    # A restart keeps the pin: the spoofed config is replayed and still refused.
    ir.async_delete_issue(hass, DOMAIN, f"address_changed_{entry.entry_id}_{MAC}")
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(hass, lambda: address_issue(hass, entry.entry_id) is not None)
    button = entity_id(hass, "button", f"{entry.entry_id}_{MAC}_renew")
    await wait_for(hass, lambda: hass.states.get(button).state != "unavailable")  # type: ignore[union-attr]
    await refused_everywhere(hass, entry)

    assert web_recorder.requests == []
    assert tlskey_publishes(mqtt_bus, mark) == []
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.journal"]["data"]["certificates"][MAC] == serial
    assert device.settings.mqtt_host == BROKER_HOST  # the real device was left alone

    # The real device announcing its enrolled address again clears the repair.
    device.announce()
    await wait_for(hass, lambda: address_issue(hass, entry.entry_id) is None)
    assert not entry.runtime_data.guard.address_changed(MAC)


async def test_confirmed_move_renews_at_the_new_topic(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    hass_storage: dict[str, Any],
    hass_client: ClientSessionGenerator,
) -> None:
    """The user changed the topic: refused until confirmed, then renewal works there."""
    installed, device = await enrolled_device(hass, mqtt_bus)
    entry = installed.entry
    events = collect_events(hass)
    mark = len(mqtt_bus.published)

    device.settings.topic = "kitchen_plug"
    device.announce()
    await wait_for(hass, lambda: address_issue(hass, entry.entry_id) is not None)
    await refused_everywhere(hass, entry)
    assert tlskey_publishes(mqtt_bus, mark) == []

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix",
        json={"handler": DOMAIN, "issue_id": f"address_changed_{entry.entry_id}_{MAC}"},
    )
    assert response.status == HTTPStatus.OK
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["new_topic"] == "cmnd/kitchen_plug/"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert response.status == HTTPStatus.OK
    assert (await response.json())["type"] == "create_entry"
    assert address_issue(hass, entry.entry_id) is None
    pins = hass_storage[f"{DOMAIN}.{entry.entry_id}.address_pins"]["data"]
    assert pins[MAC] == pin("127.0.0.2", "kitchen_plug")

    old_key = device.settings.tlskey1
    await press(hass, entry.entry_id, "renew")
    await wait_for(hass, lambda: any(e["type"] == "revoked" for e in events))
    assert [e["type"] for e in events] == ["renewed", "revoked"]
    sent = tlskey_publishes(mqtt_bus, mark)
    assert sent and all(topic.startswith("cmnd/kitchen_plug/") for topic in sent)
    assert device.settings.tlskey1 not in (None, old_key)
    await wait_for(hass, lambda: tls_status(hass, entry.entry_id) == "connected_tls")
