"""bench/side_by_side.py follows an enrolment through a reload of our entry.

With the firmware's restart timings Home Assistant's Tasmota integration registers a
device for a MAC that sits on a device of ours while the fleet enrols; our entry then
reloads (device_links.py), its new manager resumes every enrolment from the journal and
finishes it, and the old manager never hears of it again. A bench that kept the manager
it started with waited on the old one's ``enrolling`` / ``wait_online`` until its bound.
"""

from __future__ import annotations

import asyncio
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant

from bench import side_by_side
from bench.timeline import Timeline
from custom_components.tasmota_tls.enrolment import EnrolmentStep
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.constants import MAC
from tests.integration import playback_device
from tests.integration.install import BROKER_HOST, install
from tests.integration.mqtt_bus import MqttBus
from tests.integration.playback_device import BrokerView, PlaybackDevice


@pytest.fixture
def engine_timing() -> EngineTiming:
    """Short waits; the wait for the device to come back leaves room for its restart."""
    return EngineTiming(step_timeout=3.0, poll_interval=0.1, wait_online_timeout=10.0)


async def test_enrolment_is_followed_through_a_reload_of_the_entry(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, options={"channel": "mqtt"})
    entry_id = installed.entry.entry_id
    broker = BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, installed.broker_fingerprint)
    device = PlaybackDevice(mqtt_bus, broker, mac=MAC)
    device.announce()
    reloaded = asyncio.Event()

    async def reload_while_waiting_online() -> None:
        """Reload as device_links.py does, while the device restarts onto TLS."""
        while True:
            entry = hass.config_entries.async_get_entry(entry_id)
            assert entry is not None
            record = entry.runtime_data.view.record(MAC)
            if record is not None and record.step == EnrolmentStep.WAIT_ONLINE:
                break
            await asyncio.sleep(0.01)
        await hass.config_entries.async_reload(entry_id)
        reloaded.set()

    reloader = hass.async_create_task(reload_while_waiting_online())
    # The device restarts a while after the switch, so the reload comes before it is back.
    with (
        patch.object(playback_device, "RESTART_DELAY", 1.0),
        patch.object(side_by_side, "ENROL_TIMEOUT", 20.0),
    ):
        result = await side_by_side._enrol_all(hass, Timeline(), 1)
    await reloader
    assert reloaded.is_set()
    assert (result["connected"], result["failed"]) == (1, 0)
    assert device.tls_active
