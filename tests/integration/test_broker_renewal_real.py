"""The automatic broker renewal on a real Mosquitto: a device pinned by fingerprint stays.

The broker serves the files of the integration's own exported bundle. The lifecycle
renews the broker certificate (same key) and rewrites the bundle; after a broker restart
the device, which pinned the key at enrolment, connects again over TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import pytest
from cryptography import x509
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.tasmota_tls.ca import bundle_directory
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.engine_timing import REAL_BROKER_TIMING
from tests.helpers.mosquitto import PLAIN_LISTENER, TLS_LISTENER, MosquittoBroker, connected_line

from .helpers import collect_events, wait_for
from .real_world import enrol_until_connected, real_world


def served_certificate(port: int) -> x509.Certificate:
    """The certificate the broker's TLS listener presents (the handshake stops after it)."""
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return x509.load_pem_x509_certificate(pem.encode())


@pytest.fixture
def engine_timing() -> EngineTiming:
    """Bounded waits; the devices' rule timers run fast (rule_timer_scale)."""
    return REAL_BROKER_TIMING


@pytest.mark.usefixtures("mock_hass_config")
async def test_pinned_device_survives_the_automatic_renewal(
    hass: HomeAssistant, mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    async with real_world(hass, mosquitto_factory, tmp_path, tls_listener=True) as world:
        await enrol_until_connected(hass, world)
        virtual, broker, entry = world.device, world.broker, world.entry
        store: PkiStore = entry.runtime_data.ca.store
        old = await hass.async_add_executor_job(store.broker_certificate)
        assert old is not None
        pinned = tasmota_fingerprint(old)
        assert virtual.settings.setoption132 == 1  # fingerprint mode
        assert virtual.settings.fingerprint1 == pinned.replace(" ", "")

        # The broker now serves what the integration exports.
        bundle = await hass.services.async_call(
            DOMAIN, "export_broker_bundle", {}, blocking=True, return_response=True
        )
        assert bundle is not None and bundle["new_broker_key"] is False
        out_dir = bundle_directory(hass, entry.entry_id)
        broker.write_config(PLAIN_LISTENER + TLS_LISTENER % {"dir": out_dir})
        mark = broker.log_mark()
        await hass.async_add_executor_job(broker.restart)
        await broker.async_wait_for_log(connected_line(user=virtual.topic), 30, since=mark)
        served = await hass.async_add_executor_job(served_certificate, world.tls_port)
        assert served.serial_number == old.serial_number

        # The renewal is due (as if its last month had come) at the next hourly check.
        events = collect_events(hass)
        with patch("custom_components.tasmota_tls.broker_renewal.AUTO_RENEW_DAYS", 900):
            async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(hours=1, minutes=1))
            await wait_for(hass, lambda: any(e["type"] == "broker_renewed" for e in events), 20)
        await hass.async_block_till_done(wait_background_tasks=True)
        new = await hass.async_add_executor_job(store.broker_certificate)
        assert new is not None and new.serial_number != old.serial_number
        assert tasmota_fingerprint(new) == pinned
        exported = await hass.async_add_executor_job((out_dir / "broker.crt").read_bytes)
        assert x509.load_pem_x509_certificate(exported).serial_number == new.serial_number

        # Restarted, the broker serves the renewed certificate; the pinned device is back.
        mark = broker.log_mark()
        await hass.async_add_executor_job(broker.restart)
        await broker.async_wait_for_log(connected_line(user=virtual.topic), 30, since=mark)
        served = await hass.async_add_executor_job(served_certificate, world.tls_port)
        assert served.serial_number == new.serial_number
        await asyncio.sleep(1)  # a device that failed the pin would have dropped by now
        assert virtual.tls_active and virtual.connected
        assert virtual.settings.fingerprint1 == pinned.replace(" ", "")
