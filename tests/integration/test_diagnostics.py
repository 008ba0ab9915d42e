"""Diagnostics, and proof that no key material or passphrase leaks anywhere."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore
from tests.helpers.constants import MAC

from .helpers import collect_events, device_of, state_of, wait_for
from .install import BROKER_HOST, PASSPHRASE, install
from .mqtt_bus import MqttBus
from .playback_device import BrokerView, PlaybackDevice

WEB_PASSWORD = "device-web-secret"


def key_forms(key: Any) -> list[str]:
    """Every text form a private key could leak in."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    forms = [pem.splitlines()[1], base64.b64encode(der).decode()[:60]]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        forms += [scalar.hex(), scalar.hex().upper(), base64.b64encode(scalar).decode()]
    elif isinstance(key, rsa.RSAPrivateKey):
        forms.append(f"{key.private_numbers().d:x}"[:60])
    return forms


def ca_and_broker_keys(store: PkiStore) -> list[Any]:
    return [store._ca_key(PASSPHRASE), store.broker_key(PASSPHRASE)]


async def test_no_secret_in_diagnostics_events_logs_or_errors(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    hass_client: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full enrolment, a failed action and diagnostics: no key, no passphrase anywhere."""
    caplog.set_level(logging.DEBUG)
    installed = await install(hass, options={"channel": "mqtt", "web_password": WEB_PASSWORD})
    entry = installed.entry
    events = collect_events(hass)
    device = PlaybackDevice(
        mqtt_bus,
        BrokerView("mqtt-plain.lan", 1883, BROKER_HOST, 8883, installed.broker_fingerprint),
        mac=MAC,
    )
    device.announce()
    await wait_for(hass, lambda: bool(hass.states.async_entity_ids("button")))
    device_id = device_of(hass, MAC)
    assert device_id is not None
    await hass.services.async_call(DOMAIN, "enrol", {"device_id": device_id.id}, blocking=True)
    await wait_for(
        hass,
        lambda: (
            state_of(hass, "sensor", f"{entry.entry_id}_{MAC}_tls_status").state == "connected_tls"
        ),
    )
    errors: list[str] = []
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "enrol", {"device_id": "unknown", "passphrase": PASSPHRASE}, blocking=True
        )
    errors.append(f"{err.value!s} {err.value!r}")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    # The device really received a key: these are the secrets to look for.
    assert device.settings.tlskey1 is not None
    device_key = ec.derive_private_key(
        int.from_bytes(device.settings.tlskey1, "big"), ec.SECP256R1()
    )
    keys = [device_key, *await hass.async_add_executor_job(ca_and_broker_keys, installed.store)]
    secrets = [PASSPHRASE, WEB_PASSWORD]
    for key in keys:
        secrets += key_forms(key)

    places = {
        "diagnostics": json.dumps(diagnostics),
        "events": repr(events),
        "logs": caplog.text,
        "errors": " ".join(errors),
        "journal": json.dumps(hass_storage[f"{DOMAIN}.{entry.entry_id}.journal"]),
        "states": repr([state.as_dict() for state in hass.states.async_all()]),
    }
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {place}"
    # The checks look at real content.
    assert "enrolled" in places["events"]
    assert MAC in places["logs"] or "enrol" in places["logs"]
    # Moved out of the config entry into the private secrets file (migration 1.2).
    assert "passphrase" not in diagnostics["entry"]["data"]
    assert "web_password" not in diagnostics["entry"]["options"]
    assert "passphrase" not in entry.data and "web_password" not in entry.options
    # Devices are numbered, not keyed by MAC (diagnostics redact MACs).
    (only,) = diagnostics["devices"]
    assert only["device"] == "device_1"
    assert only["status"] == "connected_tls"
    assert only["last_enrolment"]["step"] == "done"
    assert diagnostics["ca"]["broker_fingerprint"] == installed.broker_fingerprint
    # Certificate names are topics: redacted, each certificate still listed by kind.
    assert {c["cn"] for c in diagnostics["ca"]["certificates"]} == {"**REDACTED**"}
    assert {c["kind"] for c in diagnostics["ca"]["certificates"]} >= {"ca", "device"}
    # Home Assistant's MQTT client did log the TLSKey1 publication, without its payload.
    assert f"cmnd/{device.settings.topic}/TLSKey1: '<redacted>'" in caplog.text
