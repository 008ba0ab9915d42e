"""The whole CLI on the CA machine, proven on a real Mosquitto with the BearSSL client.

Every file the broker and the device get comes from `tasmota-tls` run by this Python
(Debian's /usr/bin/python3 under scripts/test-ca-machine): init, broker, device,
trust-anchor, fingerprint, revoke, crl and the mosquitto bundle. Only `cryptography`
is imported here, never the integration.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cryptography
import pytest
from cryptography import x509

from tests.helpers.bearssl_client import EXIT_OK, EXIT_TLS, build_client, run_client
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker

from .support import (
    HOST,
    MIN_CRYPTOGRAPHY,
    MIN_PYTHON,
    ON_CA_MACHINE,
    PASSPHRASE,
    REPO,
    cryptography_version,
    run,
)


def test_this_is_the_python_and_cryptography_the_cli_promises() -> None:
    found = f"Python {sys.version.split()[0]}, cryptography {cryptography.__version__}"
    print(f"CA machine: {found} at {sys.executable}")
    assert sys.version_info[:2] >= MIN_PYTHON, found
    assert cryptography_version() >= MIN_CRYPTOGRAPHY, found
    if ON_CA_MACHINE:  # scripts/test-ca-machine: Debian's own, no venv
        assert sys.executable == "/usr/bin/python3"
        assert sys.prefix == sys.base_prefix, "a venv is active"
        assert cryptography.__file__.startswith("/usr/lib/python3/dist-packages/")


def _device(pki: Path, name: str, out: Path) -> tuple[Path, Path]:
    data = json.loads(run(pki, "device", name, "--json").stdout)
    key, cert = out / f"{name}.key.bin", out / f"{name}.der"
    key.write_bytes(base64.b64decode(data["tlskey1"]))
    cert.write_bytes(base64.b64decode(data["tlskey2"]))
    return key, cert


def _bundle_broker(pki: Path, bundle: Path, factory: BrokerFactory) -> MosquittoBroker:
    """A Mosquitto whose TLS listener is the `mosquitto` bundle's, on a free port."""
    run(pki, "mosquitto", "--out", str(bundle), "--install-dir", str(bundle), "--bind", HOST)
    conf = (bundle / "tasmota-tls.conf").read_text()
    conf, count = re.subn(r"(?m)^listener \d+ 127\.0\.0\.1$", "listener {tls_port} 127.0.0.1", conf)
    assert count == 1, conf
    return factory(conf)


def test_guide_on_the_ca_machine(tmp_path: Path, mosquitto_factory: BrokerFactory) -> None:
    pki, bundle, firmware = tmp_path / "pki", tmp_path / "bundle", tmp_path / "firmware"
    assert "Created CA" in run(pki, "init", "--cn", "Home MQTT CA").stdout
    issued = run(pki, "broker", HOST, "--san", "localhost").stdout
    fingerprint = run(pki, "fingerprint").stdout.strip()
    assert f"MqttFingerprint1 {fingerprint}" in issued
    run(pki, "trust-anchor", "--out", str(firmware))
    client = build_client(firmware, tmp_path / "tasmota_client")
    kept_key, kept_cert = _device(pki, "tasmota_000001", tmp_path)
    gone_key, gone_cert = _device(pki, "tasmota_000002", tmp_path)
    broker = _bundle_broker(pki, bundle, mosquitto_factory)
    port = broker.ports["tls_port"]

    def connect(key: Path, cert: Path, client_id: str, pin: str | None = None) -> object:
        return run_client(
            client, host=HOST, port=port, server_name=HOST, key_file=key, cert_file=cert,
            client_id=client_id, fingerprint=pin,
        )  # fmt: skip

    # CA mode (SetOption132 0) against the compiled-in trust anchor, and fingerprint mode.
    for pin in (None, fingerprint):
        for key, cert, client_id in ((kept_key, kept_cert, "DVES_000001"),
                                     (gone_key, gone_cert, "DVES_000002")):  # fmt: skip
            result = connect(key, cert, client_id, pin)
            assert result.returncode == EXIT_OK and result.connack == 0, result.stderr  # type: ignore[attr-defined]
    wrong = connect(kept_key, kept_cert, "DVES_000001", " ".join(["01"] * 20))
    # The test client reports a fingerprint mismatch as BearSSL's 62 (not trusted); the
    # firmware logs its own 1 for it. Either way: refused, and it saw our fingerprint.
    assert wrong.returncode == EXIT_TLS and wrong.tls_error == 62, wrong.stderr  # type: ignore[attr-defined]
    assert wrong.server_fingerprint == fingerprint  # type: ignore[attr-defined]

    # Revoke one device; the regenerated bundle carries the new CRL; a reload applies it.
    assert "Revoked tasmota_000002" in run(pki, "revoke", "tasmota_000002").stdout
    crl_file = tmp_path / "crl.pem"
    run(pki, "crl", "--out", str(crl_file))
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert [entry.serial_number for entry in crl] == [_serial(gone_cert)]
    run(pki, "mosquitto", "--out", str(bundle), "--install-dir", str(bundle), "--bind", HOST)
    assert (bundle / "crl.pem").read_bytes() == crl_file.read_bytes()
    broker.reload()
    refused = connect(gone_key, gone_cert, "DVES_000002")
    assert refused.returncode != EXIT_OK and refused.connack is None, refused.stdout  # type: ignore[attr-defined]
    accepted = connect(kept_key, kept_cert, "DVES_000001")
    assert accepted.returncode == EXIT_OK and accepted.connack == 0, accepted.stderr  # type: ignore[attr-defined]


def test_broker_renewal_keeps_the_fingerprint_on_the_ca_machine(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    pki, firmware = tmp_path / "pki", tmp_path / "firmware"
    run(pki, "init", "--cn", "Renewal CA")
    run(pki, "broker", HOST)
    pinned = run(pki, "fingerprint").stdout.strip()
    key, cert = _device(pki, "tasmota_00000A", tmp_path)
    renewed = run(pki, "renew-broker", "--days", "400").stdout
    assert "Same key as before" in renewed and f"MqttFingerprint1 {pinned}" in renewed
    assert run(pki, "fingerprint").stdout.strip() == pinned
    run(pki, "trust-anchor", "--out", str(firmware))
    client = build_client(firmware, tmp_path / "tasmota_client")
    broker = _bundle_broker(pki, tmp_path / "bundle", mosquitto_factory)
    served = x509.load_pem_x509_certificate((tmp_path / "bundle" / "broker.crt").read_bytes())
    assert _validity_days(served) == 400  # the bundle serves the renewed certificate
    result = run_client(
        client, host=HOST, port=broker.ports["tls_port"], server_name=HOST, key_file=key,
        cert_file=cert, client_id="DVES_00000A", fingerprint=pinned,
    )  # fmt: skip
    assert result.returncode == EXIT_OK and result.connack == 0, result.stderr


def _validity_days(cert: x509.Certificate) -> int:
    # cryptography 42 renamed the dates; 38 (Debian 12) has only the old names.
    start = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
    end = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    return (end - start).days


def _serial(der_file: Path) -> int:
    return x509.load_der_x509_certificate(der_file.read_bytes()).serial_number


@pytest.mark.parametrize("flags", [["-X", "dev"], ["-W", "error"]])
def test_cli_imports_nothing_but_cryptography(tmp_path: Path, flags: list[str]) -> None:
    """No Home Assistant, no paho, no deprecated `cryptography` call: warnings are errors."""
    cli = REPO / "scripts" / "tasmota_tls_cli.py"
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{str(cli)!r}, '--pki', {str(tmp_path / 'pki')!r}, 'status']\n"
        "try:\n"
        f"    runpy.run_path({str(cli)!r}, run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    print('EXIT', done.code)\n"
        "foreign = sorted(m for m in sys.modules if m.split('.')[0] in ('homeassistant', 'paho'))\n"
        "print('FOREIGN', foreign)\n"
    )
    pki = tmp_path / "pki"
    run(pki, "init", "--cn", "Probe CA")
    run(pki, "broker", HOST)
    run(pki, "crl")
    env = {**os.environ, "TASMOTA_TLS_PASSPHRASE": PASSPHRASE}
    done = subprocess.run(
        [sys.executable, *flags, "-c", probe],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert "EXIT 0" in done.stdout and "FOREIGN []" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
