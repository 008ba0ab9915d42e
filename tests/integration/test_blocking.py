"""No crypto or file I/O on the event loop, checked with Home Assistant's detector."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant import block_async_io
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tasmota_tls import ca as ca_module
from custom_components.tasmota_tls import export as export_module
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.constants import MAC

from .helpers import device_of, state_of, wait_for
from .install import BROKER_HOST, install, make_ca
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice

# Everything that touches keys, certificates or files.
STORE_METHODS = (
    "init_ca",
    "import_pem",
    "import_easyrsa",
    "check_passphrase",
    "ca_certificate",
    "entries",
    "find",
    "certificate",
    "broker_certificate",
    "broker_key",
    "crl",
    "issue_device",
    "issue_broker",
    "revoke",
    "generate_crl",
    "forget_passphrases",
)
MODULE_FUNCTIONS = (
    (ca_module, "identify_certificate_pem"),
    (ca_module, "identify_easyrsa_ca"),
    (ca_module, "create_ca"),
    (ca_module, "remove_store"),
    (ca_module, "_snapshot"),
    (export_module, "write_trust_anchor"),
)


@pytest.fixture
def loop_calls() -> Generator[list[str]]:
    """Names of PKI functions that ran on the event loop's thread."""
    loop_thread = threading.get_ident()
    on_loop: list[str] = []

    def watch(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == loop_thread:
                on_loop.append(name)
            return func(*args, **kwargs)

        return wrapper

    patches = [
        patch.object(PkiStore, name, watch(name, getattr(PkiStore, name))) for name in STORE_METHODS
    ]
    patches += [
        patch.object(module, name, watch(name, getattr(module, name)))
        for module, name in MODULE_FUNCTIONS
    ]
    for active in patches:
        active.start()
    yield on_loop
    for active in patches:
        active.stop()


@pytest.mark.usefixtures("broker_answers")
async def test_no_blocking_calls_in_the_event_loop(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    hass_client: ClientSessionGenerator,
    disable_block_async_io: None,
    loop_calls: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Flow, setup, discovery, enrolment, actions and diagnostics with detection on."""
    # A repeated offence is logged at debug level only: catch those too.
    caplog.set_level(logging.DEBUG, logger="homeassistant.util.loop")
    # Home Assistant skips file-I/O checks under pytest; turn them on as in production.
    with patch.object(block_async_io, "_IN_TESTS", False):
        block_async_io.enable()

    # The config flow: import a PEM CA (file writes, decryption, re-encryption).
    ca = make_ca()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "import_pem"}
    )
    with patch("custom_components.tasmota_tls.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "certificate_pem": ca.cert_pem,
                "key_pem": ca.key_pem,
                "custody": "unattended",
                "passphrase": ca.passphrase,
            },
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"broker_host": BROKER_HOST, "broker_port": 8883}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    with patch("custom_components.tasmota_tls.async_unload_entry", return_value=True):
        assert await hass.config_entries.async_remove(result["result"].entry_id)

    # A running entry: setup, discovery, an enrolment, every action, diagnostics.
    installed = await install(hass, options={"channel": "mqtt"})
    entry = installed.entry
    fingerprint = await hass.async_add_executor_job(lambda: installed.broker_fingerprint)
    device = PlaybackDevice(
        mqtt_bus, BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, fingerprint), mac=MAC
    )
    device.announce()
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    device_entry = device_of(hass, MAC)
    assert device_entry is not None
    await hass.services.async_call(DOMAIN, "enrol", {"device_id": device_entry.id}, blocking=True)
    await wait_for(
        hass,
        lambda: (
            state_of(hass, "sensor", f"{entry.entry_id}_{MAC}_tls_status").state == "connected_tls"
        ),
    )
    for service, data in (
        ("export_trust_anchor", {"config_entry_id": entry.entry_id}),
        ("export_broker_bundle", {"config_entry_id": entry.entry_id}),
        ("revoke", {"device_id": device_entry.id}),
    ):
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)

    assert "by custom integration 'tasmota_tls'" not in caplog.text
    assert loop_calls == []


async def test_the_detector_would_notice(
    hass: HomeAssistant, disable_block_async_io: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The check above can fail: reading the store on the loop is reported."""
    store = PkiStore(hass.config.path("store"))
    await hass.async_add_executor_job(
        functools.partial(store.init_ca, "passphrase", "CA", algo="ec")
    )
    caplog.set_level(logging.WARNING)
    with patch.object(block_async_io, "_IN_TESTS", False):
        block_async_io.enable()
    ca_module._snapshot(store)  # file reads and parsing, wrongly on the loop
    assert "inside the event loop by custom integration 'tasmota_tls'" in caplog.text
