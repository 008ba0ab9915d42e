"""The manual guide replaced by the CLI, proven with the Tasmota-like BearSSL client.

Everything the device and the broker get comes from `tasmota-tls` output: the broker
files from `broker --out`, the firmware headers from `trust-anchor --out`, and the
device key and certificate decoded from the TLSKey1/TLSKey2 payloads of `device --json`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.helpers.bearssl_client import EXIT_OK, EXIT_TLS, build_client, run_client
from tests.helpers.mosquitto import BrokerFactory

from .support import run

BROKER_HOST = "127.0.0.1"  # the MqttHost the device is given


def _listener(out: Path) -> str:
    return f"""
listener {{tls_port}} 127.0.0.1
cafile {out}/ca.crt
certfile {out}/broker.crt
keyfile {out}/broker.key
require_certificate true
use_identity_as_username true
allow_anonymous false
tls_version tlsv1.2
"""


def _device_files(pki: Path, name: str, directory: Path) -> tuple[Path, Path]:
    data = json.loads(run(pki, "device", name, "--json").stdout)
    key, cert = directory / f"{name}.key.bin", directory / f"{name}.der"
    key.write_bytes(base64.b64decode(data["tlskey1"]))
    cert.write_bytes(base64.b64decode(data["tlskey2"]))
    return key, cert


@pytest.fixture
def guide(tmp_path: Path) -> dict[str, Path]:
    pki, broker_out, firmware = tmp_path / "pki", tmp_path / "broker", tmp_path / "firmware"
    run(pki, "init", "--cn", "Home MQTT CA")
    run(pki, "broker", BROKER_HOST, "--san", "localhost", "--out", str(broker_out))
    run(pki, "trust-anchor", "--out", str(firmware))
    client = build_client(firmware, tmp_path / "tasmota_client")
    return {"pki": pki, "broker": broker_out, "client": client, "dir": tmp_path}


def test_device_connects_with_cli_output(
    guide: dict[str, Path], mosquitto_factory: BrokerFactory
) -> None:
    broker = mosquitto_factory(_listener(guide["broker"]))
    key, cert = _device_files(guide["pki"], "tasmota_1A2B3C", guide["dir"])
    mark = broker.log_mark()
    result = run_client(
        guide["client"], host="127.0.0.1", port=broker.ports["tls_port"], server_name=BROKER_HOST,
        key_file=key, cert_file=cert, client_id="DVES_1A2B3C",
    )  # fmt: skip
    assert result.returncode == EXIT_OK, result.stderr
    assert result.connack == 0
    assert ("DVES_1A2B3C", "tasmota_1A2B3C") in broker.connected_usernames(since=mark)


def test_wrong_server_name_and_foreign_ca_are_refused(
    guide: dict[str, Path], mosquitto_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory(_listener(guide["broker"]))
    key, cert = _device_files(guide["pki"], "tasmota_000002", guide["dir"])
    port = broker.ports["tls_port"]
    wrong_name = run_client(
        guide["client"], host="127.0.0.1", port=port, client_id="DVES_000002",
        server_name="mqtt.elsewhere.lan", key_file=key, cert_file=cert,
    )  # fmt: skip
    assert wrong_name.returncode == EXIT_TLS and wrong_name.connack is None

    foreign = tmp_path / "foreign"
    run(foreign, "init", "--cn", "Someone Else's CA")
    foreign_key, foreign_cert = _device_files(foreign, "tasmota_000003", tmp_path)
    refused = run_client(
        guide["client"], host="127.0.0.1", port=port, client_id="DVES_000003",
        server_name=BROKER_HOST, key_file=foreign_key, cert_file=foreign_cert,
    )  # fmt: skip
    assert refused.returncode != EXIT_OK and refused.connack is None
