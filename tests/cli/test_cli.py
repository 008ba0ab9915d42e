"""The command-line tool, run as a user runs it."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from custom_components.tasmota_tls.pki import key_from_scalar

from .support import PASSPHRASE, run

SUBCOMMANDS = [
    "init",
    "import-easyrsa",
    "broker",
    "device",
    "renew",
    "trust-anchor",
    "fingerprint",
    "list",
    "revoke",
    "crl",
    "ha-client",
    "renew-broker",
    "rotate-broker",
]


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    path = tmp_path / "pki"
    run(path, "init", "--cn", "CLI CA")
    return path


def test_help_on_every_subcommand(tmp_path: Path) -> None:
    for command in SUBCOMMANDS:
        result = run(tmp_path, command, "--help")
        assert f"usage: tasmota-tls {command}" in result.stdout


def test_the_whole_guide(pki: Path, tmp_path: Path) -> None:
    out = tmp_path / "broker"
    broker = run(pki, "broker", "127.0.0.1", "--san", "localhost", "--out", str(out))
    assert "MqttFingerprint1 " in broker.stdout
    assert stat.S_IMODE((out / "broker.key").stat().st_mode) == 0o600
    assert {p.name for p in out.iterdir()} == {"ca.crt", "broker.crt", "broker.key"}
    fingerprint = run(pki, "fingerprint").stdout.strip()
    assert f"MqttFingerprint1 {fingerprint}" in broker.stdout

    text = run(pki, "device", "tasmota_1A2B3C").stdout.splitlines()
    commands = [line for line in text if not line.startswith("#")]
    assert [c.split(" ")[0] for c in commands] == ["TLSKey1", "TLSKey2"]
    assert len(base64.b64decode(commands[0].split(" ", 1)[1])) == 32

    fw = tmp_path / "fw"
    run(pki, "trust-anchor", "--out", str(fw))
    assert {p.name for p in fw.iterdir()} == {
        "local_ca_data.h",
        "local_ca_descriptor.h",
        "user_config_override.h",
    }

    listing = json.loads(run(pki, "list", "--json").stdout)
    assert [row["kind"] for row in listing] == ["ca", "broker", "device"]

    run(pki, "revoke", "tasmota_1A2B3C", "--reason", "superseded")
    crl_file = tmp_path / "crl.pem"
    run(pki, "crl", "--out", str(crl_file))
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert len(list(crl)) == 1

    ha = tmp_path / "ha"
    run(pki, "ha-client", "--out", str(ha))
    assert stat.S_IMODE((ha / "ha-client.key").stat().st_mode) == 0o600


def test_device_json(pki: Path) -> None:
    data = json.loads(run(pki, "device", "kitchen_plug", "--topic", "kitchen", "--json").stdout)
    for field in (
        "name",
        "serial",
        "not_after",
        "tlskey1",
        "tlskey2",
        "der_bytes",
        "command_chars",
    ):
        assert field in data
    cert = x509.load_der_x509_certificate(base64.b64decode(data["tlskey2"]))
    key = key_from_scalar(base64.b64decode(data["tlskey1"]))
    assert cert.public_key() == key.public_key()
    assert data["der_bytes"] == len(base64.b64decode(data["tlskey2"]))
    assert data["command_chars"] == len("TLSKey2 " + data["tlskey2"])
    assert data["topic"] == "kitchen"


def test_passphrase_file_and_never_argv(pki: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_text(PASSPHRASE + "\n")
    run(pki, "--passphrase-file", str(secret), "device", "from_file", passphrase=None)
    refused = run(pki, "--passphrase", PASSPHRASE, "device", "x", passphrase=None, check=False)
    assert refused.returncode == 2 and "usage: tasmota-tls" in refused.stderr
    names = [row["cn"] for row in json.loads(run(pki, "list", "--json").stdout)]
    assert "x" not in names
    missing = run(pki, "device", "x", passphrase=None, check=False)
    assert missing.returncode == 2 and "No passphrase" in missing.stderr


def test_errors_are_specific_and_without_traceback(pki: Path) -> None:
    wrong = run(pki, "device", "x", passphrase="nope", check=False)
    assert wrong.returncode == 2
    assert "passphrase does not unlock" in wrong.stderr and "Traceback" not in wrong.stderr
    bad = run(pki, "device", "a/b", check=False)
    assert bad.returncode == 2 and "may only use letters" in bad.stderr
    host = run(pki, "broker", "not a host", check=False)
    assert host.returncode == 2 and "not a valid host name" in host.stderr


def test_runs_in_a_venv_with_only_cryptography(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "cryptography"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert "homeassistant" not in names and "cryptography" in names
    pki = tmp_path / "pki"
    run(pki, "init", "--cn", "Minimal CA", python=str(python))
    data = json.loads(run(pki, "device", "tasmota_000001", "--json", python=str(python)).stdout)
    assert data["der_bytes"] > 256


def test_broker_again_and_renew_broker_keep_the_fingerprint(pki: Path) -> None:
    first = run(pki, "broker", "mqtt.lan", "--san", "10.0.0.2").stdout
    pin = run(pki, "fingerprint").stdout.strip()
    assert f"MqttFingerprint1 {pin}" in first and "Same key" not in first
    again = run(pki, "broker", "mqtt.lan").stdout
    assert "Same key as before" in again and f"MqttFingerprint1 {pin}" in again
    renewed = run(pki, "renew-broker", "--days", "90").stdout
    assert f"MqttFingerprint1 {pin}" in renewed
    assert run(pki, "fingerprint").stdout.strip() == pin
    brokers = [
        row for row in json.loads(run(pki, "list", "--json").stdout) if row["kind"] == "broker"
    ]
    assert len(brokers) == 3 and {row["status"] for row in brokers} == {"valid"}


def test_workers_are_capped_at_the_cpu_count(pki: Path) -> None:
    cpus = os.cpu_count() or 1
    refused = run(pki, "device", "a1", "a2", "--workers", str(cpus + 1), check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"--workers must be between 1 and {cpus}" in refused.stderr
    # By CN: "a1" can also occur in a random hex serial of the listing.
    assert "a1" not in [row["cn"] for row in json.loads(run(pki, "list", "--json").stdout)]
    run(pki, "device", "a1", "a2", "--workers", str(cpus))


def test_fingerprint_refuses_an_ec_broker_key(tmp_path: Path) -> None:
    """An Easy-RSA pki/ whose broker (server) certificate has an EC key, as users make it."""
    from tests.pki.support import CA_PASS, EASYRSA, easyrsa

    assert EASYRSA.exists()
    guide = tmp_path / "easyrsa" / "pki"
    guide.parent.mkdir()
    easyrsa(guide, "init-pki")
    easyrsa(guide, f"--passin=pass:{CA_PASS}", f"--passout=pass:{CA_PASS}", "build-ca")
    easyrsa(guide, "--use-algo=ec", "--curve=prime256v1", "--req-cn=mqtt.lan", "gen-req",
            "server", "nopass")  # fmt: skip
    easyrsa(guide, f"--passin=pass:{CA_PASS}", "sign-req", "server", "server")
    ours = tmp_path / "ours"
    run(ours, "import-easyrsa", str(guide), passphrase=CA_PASS)
    refused = run(ours, "fingerprint", passphrase=CA_PASS, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "The broker key is EC" in refused.stderr and "SetOption132" in refused.stderr
    assert refused.stdout == ""  # no value that no device would compute
