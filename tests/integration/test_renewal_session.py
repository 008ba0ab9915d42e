"""Renewals of a device on TLS go over its TLS session, and only its own session confirms them.

The HTTP channel is plain http: a device already on TLS is renewed over MQTT (its TLS
session) unless the option says otherwise. A renewal counts only when the device's own
session returns a fresh nonce and its MAC; otherwise the new certificate is revoked and
the one in use stays valid.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.constants import MAC
from tests.helpers.mosquitto import free_port

from .actions import press
from .devices import enrolled_device, tlskey_publishes
from .helpers import collect_events, state_of, wait_for
from .mqtt_bus import MqttBus


@pytest.fixture
def engine_timing() -> EngineTiming:
    return EngineTiming(step_timeout=1.0, poll_interval=0.1, wait_online_timeout=5.0)


def status(hass: HomeAssistant, entry_id: str) -> Any:
    return state_of(hass, "sensor", f"{entry_id}_{MAC}_tls_status")


async def test_renewal_of_a_tls_device_goes_over_its_tls_session(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    installed, device = await enrolled_device(hass, mqtt_bus)
    entry = installed.entry
    # Enrolment now over HTTP, to a port where nothing listens: a renewal sent that way fails.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "channel": "http", "http_port": free_port()}
    )
    await hass.async_block_till_done()
    await wait_for(hass, lambda: status(hass, entry.entry_id).state == "connected_tls")
    events = collect_events(hass)
    mark = len(mqtt_bus.published)
    old_key = device.settings.tlskey1

    await press(hass, entry.entry_id, "renew")
    await wait_for(hass, lambda: any(e["type"] == "revoked" for e in events))
    assert [e["type"] for e in events] == ["renewed", "revoked"]
    sent = tlskey_publishes(mqtt_bus, mark)
    assert sent and all(topic.startswith(f"cmnd/{device.topic}/") for topic in sent)
    assert device.settings.tlskey1 not in (None, old_key)


async def test_unconfirmed_renewal_keeps_the_certificate_in_use(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_storage: dict[str, Any]
) -> None:
    installed, device = await enrolled_device(hass, mqtt_bus)
    entry = installed.entry
    view = entry.runtime_data.view
    in_use = view.certificate_serial(MAC)
    # The device's session never returns the nonce (as when another client answers).
    original = device.publish_soon

    def drop_proof(topic: str, payload: str, *, retain: bool) -> None:
        if not topic.endswith("/TLSPROOF"):
            original(topic, payload, retain=retain)

    device.publish_soon = drop_proof  # type: ignore[method-assign]
    events = collect_events(hass)
    await press(hass, entry.entry_id, "renew")
    await wait_for(hass, lambda: any(e["type"] == "enrolment_failed" for e in events), 20)

    failed = [e for e in events if e["type"] == "enrolment_failed"]
    assert failed[0]["reason"] == "renewal_unconfirmed"
    assert [e["type"] for e in events] == ["revoked", "enrolment_failed"]
    new_serial = events[0]["serial"]
    assert new_serial != in_use
    entries = {e.serial: e for e in await hass.async_add_executor_job(installed.store.entries)}
    assert entries[in_use].status == "valid"  # not superseded
    assert entries[new_serial].status == "revoked"
    assert view.certificate_serial(MAC) == in_use
    assert view.certificate(MAC) is not None and view.certificate(MAC).serial == in_use
