"""Driving the config flow in tests: the menu, the CA forms, and what a flow left on disk."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from custom_components.tasmota_tls.const import (
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CUSTODY,
    CONF_PASSPHRASE,
    CONF_STORE_ID,
    DOMAIN,
)
from tests.helpers.constants import MAC

# The CA and discovery builders live in install.py, shared with the runtime tests; they
# are taken from here so that the flow tests name them in one place.
from .install import CaFiles, discovery_payload, make_ca

__all__ = [
    "BROKER",
    "PASSPHRASE",
    "CaFiles",
    "ca_form",
    "default_of",
    "discovery_info",
    "discovery_payload",
    "make_ca",
    "pem_form",
    "sha256_of",
    "start",
    "store_path",
    "stores",
]

PASSPHRASE = "correct horse battery"
BROKER = {CONF_BROKER_HOST: "mqtt.home.lan", CONF_BROKER_PORT: 8883}
DISCOVERY_TOPIC = f"tasmota/discovery/{MAC}/config"


def ca_form(**changes: Any) -> dict[str, Any]:
    """The create_ca form filled in correctly (an EC CA, unattended), with ``changes``."""
    values: dict[str, Any] = {
        "ca_name": "CA",
        "ca_algorithm": "ec",
        CONF_CUSTODY: "unattended",
        CONF_PASSPHRASE: PASSPHRASE,
        "passphrase_confirm": PASSPHRASE,
    }
    values.update(changes)
    return values


def pem_form(ca: CaFiles, **changes: Any) -> dict[str, Any]:
    """The import_pem form for ``ca``, with ``changes``."""
    values: dict[str, Any] = {
        "certificate_pem": ca.cert_pem,
        "key_pem": ca.key_pem,
        CONF_CUSTODY: "unattended",
        CONF_PASSPHRASE: ca.passphrase,
    }
    values.update(changes)
    return values


def discovery_info(payload: str | None = None) -> MqttServiceInfo:
    """A retained discovery message of the device MAC (its payload, or the default one)."""
    return MqttServiceInfo(
        topic=DISCOVERY_TOPIC,
        payload=discovery_payload() if payload is None else payload,
        qos=0,
        retain=True,
        subscribed_topic="tasmota/discovery/#",
        timestamp=0,
    )


def store_path(config_dir: Path, entry_data: Mapping[str, Any]) -> Path:
    return config_dir / ".storage" / "tasmota_tls" / entry_data[CONF_STORE_ID]


def stores(config_dir: Path) -> list[Path]:
    """CA stores on disk (none before the first import)."""
    folder = config_dir / ".storage" / "tasmota_tls"
    return list(folder.iterdir()) if folder.exists() else []


def sha256_of(cert_pem: str) -> str:
    return x509.load_pem_x509_certificate(cert_pem.encode()).fingerprint(hashes.SHA256()).hex()


def default_of(result: ConfigFlowResult, key: str) -> Any:
    """The default a form offers for ``key``."""
    schema = result["data_schema"]
    assert schema is not None
    return next(k for k in schema.schema if k == key).default()


async def start(hass: HomeAssistant, choice: str) -> ConfigFlowResult:
    """A user flow through the menu to the form of ``choice``."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["create_ca", "import_easyrsa", "import_pem"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == choice
    return result
