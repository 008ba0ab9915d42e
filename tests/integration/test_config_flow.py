"""The config flow: create or import a CA, name the broker, reconfigure, options."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import pytest
from cryptography import x509
from homeassistant.config_entries import SOURCE_MQTT, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
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
from custom_components.tasmota_tls.pki.limits import MAX_COMMON_NAME_CHARS
from tests.helpers.constants import MAC

from .flow_helpers import (
    BROKER,
    PASSPHRASE,
    CaFiles,
    ca_form,
    default_of,
    discovery_info,
    discovery_payload,
    make_ca,
    pem_form,
    sha256_of,
    start,
    store_path,
    stores,
)
from .mqtt_bus import MqttBus

pytestmark = pytest.mark.usefixtures("mock_setup_entry", "broker_answers")


async def to_broker(hass: HomeAssistant, flow_id: str) -> ConfigFlowResult:
    """A valid create_ca form: the flow goes on to the broker step."""
    result = await hass.config_entries.flow.async_configure(flow_id, ca_form())
    assert result["step_id"] == "broker"
    return result


async def test_create_ca_unattended(
    hass: HomeAssistant, config_dir: Path, mock_setup_entry: AsyncMock
) -> None:
    """A new CA is created at the end; unattended custody keeps the passphrase."""
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], ca_form(ca_name="My Home CA", ca_algorithm="rsa")
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
        result["flow_id"], ca_form(ca_name="EC CA", custody="attended")
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_PASSPHRASE not in result["data"]
    assert PASSPHRASE not in json.dumps(result["data"])
    key_pem = (store_path(config_dir, result["data"]) / "ca.key").read_bytes()
    assert b"ENCRYPTED" in key_pem


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        pytest.param(
            {
                "ca_name": "  ",
                "ca_algorithm": "rsa",
                "passphrase": "short",
                "passphrase_confirm": "short",
            },
            {"ca_name": "invalid_ca_name", CONF_PASSPHRASE: "passphrase_too_short"},
            id="blank-name-short-passphrase",
        ),
        pytest.param(
            {"ca_name": "C" * (MAX_COMMON_NAME_CHARS + 1)},
            {"ca_name": "invalid_ca_name"},
            id="name-too-long",
        ),
    ],
)
async def test_create_ca_form_errors(
    hass: HomeAssistant, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    result = await start(hass, "create_ca")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ca_form(**changes))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors


async def test_create_ca_passphrase_must_be_confirmed(hass: HomeAssistant) -> None:
    """A typo in a new CA's passphrase would lock its key away: it is typed twice."""
    result = await start(hass, "create_ca")
    form = result["data_schema"]
    assert form is not None
    assert "passphrase_confirm" in form.schema
    values = ca_form(passphrase_confirm=PASSPHRASE + "x")
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
    result = await to_broker(hass, result["flow_id"])
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
    refused = [
        (
            pem_form(ca, certificate_pem="not a certificate"),
            {"certificate_pem": "invalid_certificate"},
        ),
        (pem_form(ca, passphrase="wrong passphrase"), {"base": "wrong_passphrase"}),
        (
            pem_form(ca, key_pem=other.key_pem, passphrase=other.passphrase),
            {"base": "import_failed"},
        ),
    ]
    for values, errors in refused:
        result = await hass.config_entries.flow.async_configure(flow_id, values)
        assert result["errors"] == errors
    # A failed import leaves no store behind.
    assert stores(config_dir) == []
    result = await hass.config_entries.flow.async_configure(flow_id, pem_form(ca))
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
    result = await hass.config_entries.flow.async_configure(result["flow_id"], pem_form(ca))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert stores(config_dir) == []


async def test_abandoned_flow_removes_its_store(hass: HomeAssistant, config_dir: Path) -> None:
    result = await start(hass, "import_pem")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], pem_form(make_ca()))
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
    (tmp_path / "empty").mkdir()
    result = await start(hass, "import_easyrsa")
    flow_id = result["flow_id"]

    def form(path: Path, passphrase: str = PASSPHRASE) -> dict[str, Any]:
        return {"pki_path": str(path), CONF_CUSTODY: "attended", CONF_PASSPHRASE: passphrase}

    refused = [
        # A path with no folder is said as such, apart from a folder without ca.crt.
        (form(tmp_path / "nowhere"), {"pki_path": "pki_folder_missing"}),
        (form(tmp_path / "empty"), {"pki_path": "pki_not_found"}),
        (form(pki, "wrong passphrase"), {"base": "wrong_passphrase"}),
    ]
    for values, errors in refused:
        result = await hass.config_entries.flow.async_configure(flow_id, values)
        assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(flow_id, form(pki))
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


@pytest.mark.parametrize(
    ("reported", "warned"),
    [
        # Devices report MqttHost 192.168.1.5 (Status 6): entering another name warns first.
        pytest.param("192.168.1.5", True, id="differs"),
        pytest.param("mqtt.home.lan", False, id="matches"),
    ],
)
async def test_broker_name_against_the_devices_mqtthost(
    hass: HomeAssistant, mqtt_bus: MqttBus, reported: str, warned: bool
) -> None:
    mqtt_bus.retain(f"tasmota/discovery/{MAC}/config", discovery_payload())

    def device(topic: str, payload: str) -> list[tuple[str, str]] | None:
        if topic == "cmnd/plug_abcdef/Status" and payload == "6":
            status = {"StatusMQT": {"MqttHost": reported, "MqttPort": 1883, "MqttTLS": 0}}
            return [("stat/plug_abcdef/STATUS6", json.dumps(status))]
        return None

    mqtt_bus.responders.append(device)
    result = await start(hass, "create_ca")
    result = await to_broker(hass, result["flow_id"])
    # The probe's answer is the default broker host.
    assert default_of(result, CONF_BROKER_HOST) == reported
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    if warned:
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "broker_mismatch"
        assert result["description_placeholders"] == {
            "broker_host": "mqtt.home.lan",
            "broker_port": "8883",
            "reported_hosts": reported,
        }
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BROKER_HOST] == "mqtt.home.lan"


async def test_mqtt_discovery_offers_the_integration(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    info = discovery_info()
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
    result = await to_broker(hass, result["flow_id"])
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BROKER)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The CA's fingerprint replaced the temporary discovery ID.
    unique_id = result["result"].unique_id
    assert unique_id != DOMAIN
    assert unique_id is not None
    assert len(unique_id) == 64


@pytest.mark.parametrize(
    ("payload", "configured", "reason"),
    [
        pytest.param("", False, "invalid_discovery_info", id="removed-device"),
        pytest.param(None, True, "already_configured", id="entry-exists"),
    ],
)
async def test_mqtt_discovery_aborts(
    hass: HomeAssistant, mqtt_bus: MqttBus, payload: str | None, configured: bool, reason: str
) -> None:
    if configured:
        MockConfigEntry(domain=DOMAIN, unique_id="abc", data={}).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery_info(payload)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


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
