"""Home Assistant with its MQTT integration on a real Mosquitto, and a virtual Tasmota.

The broker has a plain listener (Home Assistant and the devices start there) and a
TLS listener that requires a client certificate and takes its CN as the user name.
The integration enrols the device over HTTP /cm: with the listener up the device
ends on TLS with its own certificate; with it down the device rolls itself back.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.engine_timing import REAL_BROKER_TIMING
from tests.helpers.mosquitto import MosquittoBroker, connected_line

from .helpers import state_of, wait_for
from .real_world import BROKER_NAME, PASSPHRASE, enrol, enrol_until_connected, real_world


@pytest.fixture
def engine_timing() -> EngineTiming:
    """Bounded waits; the devices' rule timers run fast (rule_timer_scale)."""
    return REAL_BROKER_TIMING


@pytest.mark.usefixtures("mock_hass_config")
async def test_device_enrolled_and_connected_over_tls(
    hass: HomeAssistant,
    mosquitto_factory: Callable[..., MosquittoBroker],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=True) as world:
        _, events = await enrol_until_connected(hass, world)

        virtual = world.device
        assert virtual.tls_active
        assert (virtual.settings.mqtt_host, virtual.settings.mqtt_port) == (
            BROKER_NAME,
            world.tls_port,
        )
        # The broker saw the device's own certificate: its CN is the MQTT user name.
        await world.broker.async_wait_for_log(connected_line(user=virtual.topic))
        entry_id, mac = world.entry.entry_id, virtual.mac
        assert state_of(hass, "binary_sensor", f"{entry_id}_{mac}_tls_connected").state == "on"
        assert [e["type"] for e in events] == ["enrolled"]
        assert state_of(hass, "sensor", f"{entry_id}_enrolled_devices").state == "1"

        # The key went over HTTP /cm: it is in no log line, event or state.
        assert virtual.settings.tlskey1 is not None
        raw = virtual.settings.tlskey1
        key_b64 = base64.b64encode(raw).decode()
        secrets = [key_b64, quote(key_b64, safe=""), raw.hex(), raw.hex().upper(), PASSPHRASE]
        places = caplog.text + repr(events) + repr(hass.states.async_all())
        assert "TLSKey1" in caplog.text  # the logs do cover the enrolment's commands
        for secret in secrets:
            assert secret not in places


@pytest.mark.usefixtures("mock_hass_config")
async def test_listener_down_rolls_back_and_fails_with_reason(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=False) as world:
        unique_id, events = await enrol(hass, world)
        await wait_for(hass, lambda: state_of(hass, "sensor", unique_id).state == "failed", 40)

        state = state_of(hass, "sensor", unique_id)
        assert state.attributes["failure_reason"] == "rolled_back"
        assert state.attributes["failed_step"] == "wait_online"
        failed = [e for e in events if e["type"] == "enrolment_failed"]
        assert len(failed) == 1
        assert (failed[0]["step"], failed[0]["reason"]) == ("wait_online", "rolled_back")
        # The device put its previous settings back and is reachable on the plain listener.
        virtual = world.device
        await virtual.wait_state(lambda d: d.connected, 10)
        settings = virtual.settings
        assert (settings.mqtt_host, settings.mqtt_port, settings.setoption103) == (
            "127.0.0.1",
            world.plain_port,
            0,
        )
        assert not virtual.tls_active
