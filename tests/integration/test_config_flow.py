"""The config flow: create or import a CA, name the broker, reconfigure, options."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.const import (
    CONF_ACL_DENY,
    CONF_AUTO_ENROL,
    CONF_AUTO_RENEW,
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CA_SOURCE,
    CONF_CHANNEL,
    CONF_CUSTODY,
    CONF_HTTP_PORT,
    CONF_MAX_PARALLEL_ENROLMENTS,
    CONF_PASSPHRASE,
    CONF_RENEW_DAYS,
    CONF_RENEW_OVER_TLS,
    CONF_ROLLBACK_MINUTES,
    CONF_STORE_ID,
    CONF_VALIDATION,
    CONF_WEB_PASSWORD,
    DOMAIN,
)

from .conftest import CaFiles, discovery_payload, make_ca
from .mqtt_bus import MqttBus

pytestmark = pytest.mark.usefixtures("mock_setup_entry", "broker_answers")

PASSPHRASE = "correct horse battery"
BROKER = {CONF_BROKER_HOST: "mqtt.home.lan", CONF_BROKER_PORT: 8883}


def store_path(config_dir: Path, entry_data: Mapping[str, Any]) -> Path:
    return config_dir / ".storage" / "tasmota_tls" / entry_data[CONF_STORE_ID]


def stores(config_dir: Path) -> list[Path]:
    """CA stores on disk (none before the first import)."""
    folder = config_dir / ".storage" / "tasmota_tls"
    return list(folder.iterdir()) if folder.exists() else []


def sha256_of(cert_pem: str) -> str:
    return x509.load_pem_x509_certificate(cert_pem.encode()).fingerprint(hashes.SHA256()).hex()


async def start(hass: HomeAssistant, choice: str) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["create_ca", "import_easyrsa", "import_pem"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == choice
    return result


async def test_create_ca_unattended(
    hass: HomeAssistant, config_dir: Path, mock_setup_entry: AsyncMock
) -> None:
    """A new CA is created at the end; unattended custody keeps the passphrase."""
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "My Home CA",
            "ca_algorithm": "rsa",
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "broker"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "My Home CA"
    data = result["data"]
    # Never in the config entry (0644): in the private secrets file, 0600 in a 0700 folder.
    assert CONF_PASSPHRASE not in data
    secrets = config_dir / ".storage" / "tasmota_tls_secrets" / f"{data['store_id']}.json"
    assert json.loads(secrets.read_text()) == {CONF_PASSPHRASE: PASSPHRASE}
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.parent.stat().st_mode & 0o777 == 0o700
    assert data[CONF_CUSTODY] == "unattended"
    assert data[CONF_CA_SOURCE] == "create"
    assert data[CONF_BROKER_HOST] == "mqtt.home.lan"
    assert data[CONF_BROKER_PORT] == 8883
    assert result["options"][CONF_AUTO_ENROL] is False
    assert result["options"][CONF_AUTO_RENEW] is True
    assert result["options"][CONF_RENEW_DAYS] == 30
    ca_pem = (store_path(config_dir, data) / "ca.crt").read_text()
    assert result["result"].unique_id == sha256_of(ca_pem)
    assert "RSA" in type(x509.load_pem_x509_certificate(ca_pem.encode()).public_key()).__name__
    assert len(mock_setup_entry.mock_calls) == 1


async def test_create_ca_attended_keeps_no_passphrase(
    hass: HomeAssistant, config_dir: Path
) -> None:
    """Attended custody never stores the passphrase, yet the key is encrypted with it."""
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "EC CA",
            "ca_algorithm": "ec",
            CONF_CUSTODY: "attended",
            CONF_PASSPHRASE: PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_PASSPHRASE not in result["data"]
    assert PASSPHRASE not in json.dumps(result["data"])
    key_pem = (store_path(config_dir, result["data"]) / "ca.key").read_bytes()
    assert b"ENCRYPTED" in key_pem


async def test_create_ca_form_errors(hass: HomeAssistant) -> None:
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "  ",
            "ca_algorithm": "rsa",
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: "short",
            "passphrase_confirm": "short",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        "ca_name": "invalid_ca_name",
        CONF_PASSPHRASE: "passphrase_too_short",
    }


async def test_create_ca_passphrase_must_be_confirmed(hass: HomeAssistant) -> None:
    """A typo in a new CA's passphrase would lock its key away: it is typed twice."""
    result = await start(hass, "create_ca")
    assert "passphrase_confirm" in result["data_schema"].schema
    values = {
        "ca_name": "CA",
        "ca_algorithm": "ec",
        CONF_CUSTODY: "unattended",
        CONF_PASSPHRASE: PASSPHRASE,
        "passphrase_confirm": PASSPHRASE + "x",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"passphrase_confirm": "passphrase_mismatch"}
    # Neither passphrase is offered back in the form.
    schema = result["data_schema"]
    assert schema is not None
    suggested = [getattr(key, "description", None) or {} for key in schema.schema]
    assert PASSPHRASE not in repr(suggested)
    values["passphrase_confirm"] = PASSPHRASE
    result = await hass.config_entries.flow.async_configure(result["flow_id"], values)
    assert result["step_id"] == "broker"


async def test_broker_host_validated(hass: HomeAssistant) -> None:
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "CA",
            "ca_algorithm": "ec",
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BROKER_HOST: "not a host!", CONF_BROKER_PORT: 8883}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BROKER_HOST: "invalid_host"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BROKER_HOST: "192.168.1.10", CONF_BROKER_PORT: 8884}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BROKER_HOST] == "192.168.1.10"
    assert result["data"][CONF_BROKER_PORT] == 8884


async def test_import_pem(hass: HomeAssistant, config_dir: Path) -> None:
    """Errors first (bad certificate, wrong passphrase, key of another CA), then success."""
    ca = make_ca()
    other = make_ca("Other CA")
    result = await start(hass, "import_pem")
    flow_id = result["flow_id"]

    def submit(cert: str, key: str, passphrase: str) -> Any:
        return hass.config_entries.flow.async_configure(
            flow_id,
            {
                "certificate_pem": cert,
                "key_pem": key,
                CONF_CUSTODY: "unattended",
                CONF_PASSPHRASE: passphrase,
            },
        )

    result = await submit("not a certificate", ca.key_pem, ca.passphrase)
    assert result["errors"] == {"certificate_pem": "invalid_certificate"}
    result = await submit(ca.cert_pem, ca.key_pem, "wrong passphrase")
    assert result["errors"] == {"base": "wrong_passphrase"}
    result = await submit(ca.cert_pem, other.key_pem, other.passphrase)
    assert result["errors"] == {"base": "import_failed"}
    # A failed import leaves no store behind.
    assert stores(config_dir) == []
    result = await submit(ca.cert_pem, ca.key_pem, ca.passphrase)
    assert result["step_id"] == "broker"
    result = await hass.config_entries.flow.async_configure(flow_id, BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Test Home CA"
    assert result["result"].unique_id == sha256_of(ca.cert_pem)
    store = store_path(config_dir, result["data"])
    assert (store / "ca.crt").read_text().strip() == ca.cert_pem.strip()


async def test_same_ca_twice_is_refused(hass: HomeAssistant, config_dir: Path) -> None:
    ca = make_ca()
    MockConfigEntry(domain=DOMAIN, unique_id=sha256_of(ca.cert_pem), data={}).add_to_hass(hass)
    result = await start(hass, "import_pem")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "certificate_pem": ca.cert_pem,
            "key_pem": ca.key_pem,
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: ca.passphrase,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert stores(config_dir) == []


async def test_abandoned_flow_removes_its_store(hass: HomeAssistant, config_dir: Path) -> None:
    ca = make_ca()
    result = await start(hass, "import_pem")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "certificate_pem": ca.cert_pem,
            "key_pem": ca.key_pem,
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: ca.passphrase,
        },
    )
    assert len(stores(config_dir)) == 1
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)
    assert stores(config_dir) == []


def easyrsa_pki(base: Path, passphrase: str) -> Path:
    """A real Easy-RSA pki/ with a CA and one issued client certificate."""
    easyrsa = shutil.which("easyrsa") or "/usr/share/easy-rsa/easyrsa"
    env = {
        "PATH": "/usr/bin:/bin",
        "EASYRSA_BATCH": "1",
        "EASYRSA_PKI": str(base / "pki"),
        "EASYRSA_REQ_CN": "Easy CA",
        "EASYRSA_ALGO": "ec",
        "EASYRSA_CURVE": "prime256v1",
        "EASYRSA_PASSIN": f"pass:{passphrase}",
        "EASYRSA_PASSOUT": f"pass:{passphrase}",
    }
    for args in (["init-pki"], ["build-ca"], ["build-client-full", "plug1", "nopass"]):
        if args[0] == "build-client-full":
            del env["EASYRSA_REQ_CN"]  # the client's CN is its name
        subprocess.run(
            [easyrsa, *args], cwd=base, env=env, check=True, capture_output=True, timeout=60
        )
    return base / "pki"


async def test_import_easyrsa(hass: HomeAssistant, config_dir: Path, tmp_path: Path) -> None:
    pki = await hass.async_add_executor_job(easyrsa_pki, tmp_path, PASSPHRASE)
    result = await start(hass, "import_easyrsa")
    flow_id = result["flow_id"]

    def submit(path: str, passphrase: str) -> Any:
        return hass.config_entries.flow.async_configure(
            flow_id, {"pki_path": path, CONF_CUSTODY: "attended", CONF_PASSPHRASE: passphrase}
        )

    # A path with no folder is said as such, apart from a folder without ca.crt.
    result = await submit(str(tmp_path / "nowhere"), PASSPHRASE)
    assert result["errors"] == {"pki_path": "pki_folder_missing"}
    (tmp_path / "empty").mkdir()
    result = await submit(str(tmp_path / "empty"), PASSPHRASE)
    assert result["errors"] == {"pki_path": "pki_not_found"}
    result = await submit(str(pki), "wrong passphrase")
    assert result["errors"] == {"base": "wrong_passphrase"}
    result = await submit(str(pki), PASSPHRASE)
    assert result["step_id"] == "broker"
    result = await hass.config_entries.flow.async_configure(flow_id, BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Easy CA"
    assert CONF_PASSPHRASE not in result["data"]
    index = json.loads((store_path(config_dir, result["data"]) / "index.json").read_text())
    assert {entry["cn"] for entry in index["entries"]} >= {"Easy CA", "plug1"}


async def test_import_easyrsa_incomplete_folder(hass: HomeAssistant, tmp_path: Path) -> None:
    """A folder with ca.crt but no key or index is refused with import_failed."""
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text(make_ca().cert_pem)
    result = await start(hass, "import_easyrsa")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"pki_path": str(tmp_path / "pki"), CONF_CUSTODY: "unattended", CONF_PASSPHRASE: "x" * 8},
    )
    assert result["errors"] == {"base": "import_failed"}


async def create_entry_through_flow(hass: HomeAssistant, flow_id: str) -> Any:
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "ca_name": "CA",
            "ca_algorithm": "ec",
            CONF_CUSTODY: "unattended",
            CONF_PASSPHRASE: PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert result["step_id"] == "broker"
    return result


async def test_broker_name_differs_from_devices_mqtthost(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    """Devices report MqttHost 192.168.1.5 (Status 6); entering another name warns first."""
    mqtt_bus.retain("tasmota/discovery/A4CF12ABCDEF/config", discovery_payload())

    def device(topic: str, payload: str) -> list[tuple[str, str]] | None:
        if topic == "cmnd/plug_abcdef/Status" and payload == "6":
            status = {"StatusMQT": {"MqttHost": "192.168.1.5", "MqttPort": 1883, "MqttTLS": 0}}
            return [("stat/plug_abcdef/STATUS6", json.dumps(status))]
        return None

    mqtt_bus.responders.append(device)
    result = await start(hass, "create_ca")
    result = await create_entry_through_flow(hass, result["flow_id"])
    # The probe's answer is the default broker host.
    schema_host = next(k for k in result["data_schema"].schema if k == CONF_BROKER_HOST)
    assert schema_host.default() == "192.168.1.5"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "broker_mismatch"
    assert result["description_placeholders"] == {
        "broker_host": "mqtt.home.lan",
        "broker_port": "8883",
        "reported_hosts": "192.168.1.5",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BROKER_HOST] == "mqtt.home.lan"


async def test_broker_name_matching_devices_goes_straight_through(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    mqtt_bus.retain("tasmota/discovery/A4CF12ABCDEF/config", discovery_payload())
    mqtt_bus.responders.append(
        lambda topic, payload: (
            [("stat/plug_abcdef/STATUS6", json.dumps({"StatusMQT": {"MqttHost": "mqtt.home.lan"}}))]
            if topic == "cmnd/plug_abcdef/Status"
            else None
        )
    )
    result = await start(hass, "create_ca")
    result = await create_entry_through_flow(hass, result["flow_id"])
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_mqtt_discovery_offers_the_integration(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    info = MqttServiceInfo(
        topic="tasmota/discovery/A4CF12ABCDEF/config",
        payload=discovery_payload(),
        qos=0,
        retain=True,
        subscribed_topic="tasmota/discovery/#",
        timestamp=0,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=info
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    # A second device's announcement does not start a second offer.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=info
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_in_progress"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "create_ca"}
    )
    result = await create_entry_through_flow(hass, result["flow_id"])
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The CA's fingerprint replaced the temporary discovery ID.
    unique_id = result["result"].unique_id
    assert unique_id != DOMAIN
    assert unique_id is not None
    assert len(unique_id) == 64


async def test_mqtt_discovery_aborts(hass: HomeAssistant, mqtt_bus: MqttBus) -> None:
    removed = MqttServiceInfo(
        topic="tasmota/discovery/A4CF12ABCDEF/config",
        payload="",
        qos=0,
        retain=True,
        subscribed_topic="tasmota/discovery/#",
        timestamp=0,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=removed
    )
    assert result["reason"] == "invalid_discovery_info"
    MockConfigEntry(domain=DOMAIN, unique_id="abc", data={}).add_to_hass(hass)
    info = MqttServiceInfo(
        topic="tasmota/discovery/A4CF12ABCDEF/config",
        payload=discovery_payload(),
        qos=0,
        retain=True,
        subscribed_topic="tasmota/discovery/#",
        timestamp=0,
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_broker(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="abc",
        data={CONF_BROKER_HOST: "old.lan", CONF_BROKER_PORT: 8883, CONF_STORE_ID: "x"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BROKER_HOST: "bad host", CONF_BROKER_PORT: 8883}
    )
    assert result["errors"] == {CONF_BROKER_HOST: "invalid_host"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BROKER_HOST: "New.LAN", CONF_BROKER_PORT: 9883}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_BROKER_HOST] == "new.lan"
    assert entry.data[CONF_BROKER_PORT] == 9883
    assert entry.data[CONF_STORE_ID] == "x"


async def test_options(hass: HomeAssistant, config_dir: Path) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="abc", data={CONF_STORE_ID: "x"}, minor_version=2, options={}
    )
    entry.add_to_hass(hass)
    secrets = config_dir / ".storage" / "tasmota_tls_secrets" / "x.json"
    secrets.parent.mkdir(parents=True)
    secrets.write_text(json.dumps({CONF_WEB_PASSWORD: "old-secret"}))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    # The stored web password is never sent back to the form.
    suggested = {
        str(key): key.description.get("suggested_value") if key.description else None
        for key in schema.schema
    }
    assert suggested[CONF_WEB_PASSWORD] is None
    assert suggested[CONF_RENEW_DAYS] == 30
    values = {
        CONF_RENEW_DAYS: 45.0,
        CONF_AUTO_RENEW: False,
        CONF_AUTO_ENROL: True,
        CONF_VALIDATION: "ca",
        CONF_CHANNEL: "mqtt",
        CONF_HTTP_PORT: 8080.0,
        CONF_ROLLBACK_MINUTES: 2.0,
        CONF_MAX_PARALLEL_ENROLMENTS: 8.0,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], values)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_RENEW_DAYS: 45,
        CONF_AUTO_RENEW: False,
        CONF_AUTO_ENROL: True,
        CONF_VALIDATION: "ca",
        CONF_CHANNEL: "mqtt",
        CONF_HTTP_PORT: 8080,
        CONF_ROLLBACK_MINUTES: 2,
        CONF_MAX_PARALLEL_ENROLMENTS: 8,
        CONF_RENEW_OVER_TLS: True,
        CONF_ACL_DENY: "homeassistant/\nzigbee2mqtt/",
    }
    assert json.loads(secrets.read_text()) == {CONF_WEB_PASSWORD: "old-secret"}
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**values, CONF_WEB_PASSWORD: "new-secret"}
    )
    # The web password goes to the private file, never into the options.
    assert CONF_WEB_PASSWORD not in entry.options
    assert json.loads(secrets.read_text()) == {CONF_WEB_PASSWORD: "new-secret"}


def test_ca_files_fixture_is_encrypted() -> None:
    ca: CaFiles = make_ca()
    assert "ENCRYPTED PRIVATE KEY" in ca.key_pem
