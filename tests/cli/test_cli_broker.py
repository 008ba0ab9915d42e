"""`tasmota-tls mosquitto | reload | status`, run as a user runs them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import PkiStore, profiles
from custom_components.tasmota_tls.pki.store import utcnow
from tasmota_tls_tool.cli import main
from tasmota_tls_tool.cli_broker import read_discovery
from tests.broker.support import PASSPHRASE, ca_key, discovery, expired_crl_pem
from tests.helpers.bearssl_client import build_client, run_client
from tests.helpers.mosquitto import TLS_LISTENER, BrokerFactory

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "scripts" / "tasmota-tls"


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASMOTA_TLS_PASSPHRASE", PASSPHRASE)


def test_the_real_tool_has_the_broker_commands(tmp_path: Path) -> None:
    env = {**os.environ, "TASMOTA_TLS_PYTHON": sys.executable}
    for command, words in (
        ("mosquitto", ["--layout", "ha-addon", "--discovery"]),
        ("reload", ["--pid", "restart"]),
        ("status", ["--crl", "third"]),
    ):
        result = subprocess.run(
            [str(TOOL), "--pki", str(tmp_path), command, "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        help_text = " ".join(result.stdout.split())
        for word in words:
            assert word in help_text, (command, word)


def test_mosquitto_uses_discovery_for_matching_devices(
    broker_store: PkiStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker_store.issue_device(PASSPHRASE, "plug")
    broker_store.issue_device(PASSPHRASE, "lamp", topic="lamp_topic")
    saved = tmp_path / "discovery.txt"
    config = discovery("plug", "A0B1C2D3E4F5", ft="home/%topic%/%prefix%/")
    saved.write_text(
        f"tasmota/discovery/A0B1C2D3E4F5/config {json.dumps(config)}\n"
        "tasmota/discovery/A0B1C2D3E4F9/config \n"
    )
    out = tmp_path / "bundle"

    code = main(["--pki", str(broker_store.directory), "mosquitto", "--out", str(out),
                 "--layout", "server", "--discovery", str(saved)])  # fmt: skip

    printed = capsys.readouterr().out
    assert code == 0
    acl = (out / "etc/mosquitto/tasmota-tls.acl").read_text()
    assert "topic read home/plug/cmnd/#" in acl
    assert "topic write tasmota/discovery/A0B1C2D3E4F5/#" in acl
    assert "user lamp\ntopic read cmnd/lamp_topic/#" in acl
    assert "No discovery data for: lamp." in printed
    assert "restart Mosquitto" in printed

    again = main(["--pki", str(broker_store.directory), "mosquitto", "--out", str(out),
                  "--layout", "server", "--discovery", str(saved)])  # fmt: skip
    assert again == 0
    assert "Nothing changed." in capsys.readouterr().out


def test_mosquitto_without_broker_certificate_fails_with_the_next_step(
    store: PkiStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--pki", str(store.directory), "mosquitto", "--out", str(tmp_path / "b")])

    assert code == 2
    assert "broker HOST" in capsys.readouterr().err


def test_read_discovery_accepts_json_object_and_list(tmp_path: Path) -> None:
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    one.write_text(json.dumps(discovery("a", "A0B1C2D3E4F5")))
    many.write_text(json.dumps([discovery("a", "A0B1C2D3E4F5"), discovery("b", "A0B1C2D3E4F6")]))

    assert [c["t"] for c in read_discovery(one)] == ["a"]
    assert [c["t"] for c in read_discovery(many)] == ["a", "b"]


def _crl_file(store: PkiStore, path: Path, days: int, age: dt.timedelta) -> Path:
    """A CRL of `days` days that was issued `age` ago."""
    crl = profiles.build_crl(ca_key(store), store.ca_certificate(), [], 99, days, utcnow() - age)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def test_status_exit_codes_follow_crl_freshness(
    broker_store: PkiStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = str(broker_store.directory)
    day = dt.timedelta(days=1)
    fresh = _crl_file(broker_store, tmp_path / "fresh.pem", 30, day)
    stale = _crl_file(broker_store, tmp_path / "stale.pem", 30, 21 * day)
    expired = _crl_file(broker_store, tmp_path / "expired.pem", 30, 31 * day)

    assert main(["--pki", pki, "status", "--crl", str(fresh)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    assert main(["--pki", pki, "status", "--crl", str(stale)]) == 1
    assert capsys.readouterr().out.startswith("WARNING: ")
    assert main(["--pki", pki, "status", "--crl", str(expired)]) == 3
    assert "EVERY client" in capsys.readouterr().out
    assert main(["--pki", pki, "status", "--crl", str(stale), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["crl_state"] == "stale"
    assert report["broker_days_left"] > 800


def test_status_reads_the_stores_crl_by_default(
    broker_store: PkiStore, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = str(broker_store.directory)
    assert main(["--pki", pki, "status"]) == 2  # no CRL yet: a usage error
    assert "tasmota-tls crl" in capsys.readouterr().err

    (broker_store.directory / "crl.pem").write_bytes(expired_crl_pem(broker_store))
    assert main(["--pki", pki, "status"]) == 3
    assert capsys.readouterr().out.startswith("ERROR: ")

    broker_store.generate_crl(PASSPHRASE)
    assert main(["--pki", pki, "status"]) == 0


def test_reload_refuses_a_process_that_is_not_mosquitto(
    store: PkiStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--pki", str(store.directory), "reload", "--pid", str(os.getpid())])

    assert code == 2
    assert "not mosquitto" in capsys.readouterr().err


def test_reload_without_pid_file_says_what_to_do(
    store: PkiStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--pki", str(store.directory), "reload", "--pid-file", str(tmp_path / "none")])

    assert code == 2
    assert "--pid" in capsys.readouterr().err


def test_reload_remote_prints_the_next_steps(
    store: PkiStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--pki", str(store.directory), "reload", "--remote"]) == 0
    printed = capsys.readouterr().out
    assert "systemctl reload mosquitto" in printed
    assert "systemctl restart mosquitto" in printed


# ---- broker renewal and key rotation, as devices pinned by fingerprint see them ----------

# The shared TLS listener, held to TLS 1.2 as the firmware's BearSSL client speaks it.
ROTATION_LISTENER = TLS_LISTENER + "tls_version tlsv1.2\n"


def _tool(pki: Path, *args: str) -> str:
    env = {**os.environ, "TASMOTA_TLS_PYTHON": sys.executable}
    done = subprocess.run(
        [str(TOOL), "--pki", str(pki), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_rotation_keeps_every_pinned_device_connected(
    tmp_path: Path, mosquitto_factory: BrokerFactory
) -> None:
    """stage -> switch -> retire with the BearSSL client pinning like a device does.

    The test client holds one fingerprint per run, so a device's two slots are two runs:
    a device is connected when either of its slots matches the broker's key.
    """
    pki, served, fw = tmp_path / "pki", tmp_path / "served", tmp_path / "fw"
    _tool(pki, "init", "--cn", "Rotation CA")
    _tool(pki, "broker", "127.0.0.1", "--out", str(served))
    _tool(pki, "trust-anchor", "--out", str(fw))
    client = build_client(fw, tmp_path / "tasmota_client")
    data = json.loads(_tool(pki, "device", "tasmota_0000AA", "--json"))
    key, cert = tmp_path / "dev.key", tmp_path / "dev.der"
    key.write_bytes(base64.b64decode(data["tlskey1"]))
    cert.write_bytes(base64.b64decode(data["tlskey2"]))
    broker = mosquitto_factory(ROTATION_LISTENER % {"dir": served})
    slots = {1: _tool(pki, "fingerprint").strip(), 2: ALL_FF_NEVER}

    def connected() -> bool:
        for pin in slots.values():
            result = run_client(
                client, host="127.0.0.1", port=broker.ports["tls_port"], server_name="127.0.0.1",
                key_file=key, cert_file=cert, client_id="DVES_0000AA", fingerprint=pin,
            )  # fmt: skip
            if result.connected:
                return True
        return False

    assert connected()
    # A renewal (new dates, same key) is served and the pin still holds.
    assert "Same key as before" in _tool(pki, "renew-broker", "--out", str(served))
    broker.restart()
    assert connected()

    staged = _tool(pki, "rotate-broker", "stage")
    assert "cmnd/tasmota_0000AA/MqttFingerprint2" in staged
    new = staged.splitlines()[0].rsplit(": ", 1)[1]
    assert _tool(pki, "rotate-broker", "stage").splitlines()[0].endswith(new)  # same key again
    slots[2] = new  # what the device does with `MqttFingerprint2 <new>`
    assert new != slots[1] and connected()  # still on the old key

    switched = _tool(pki, "rotate-broker", "switch", "--out", str(served))
    assert f"New fingerprint {new}" in switched
    broker.restart()
    assert _tool(pki, "fingerprint").strip() == new
    assert connected()  # on slot 2
    old_only = {1: slots[1]}
    assert not any(
        run_client(
            client, host="127.0.0.1", port=broker.ports["tls_port"], server_name="127.0.0.1",
            key_file=key, cert_file=cert, client_id="DVES_0000AA", fingerprint=pin,
        ).connected
        for pin in old_only.values()
    ), "a device pinned only to the old key would drop: the rotation must stage slot 2"  # fmt: skip

    retired = _tool(pki, "rotate-broker", "retire")
    assert f"MqttFingerprint1 {new}" in retired and "Revoked the old broker certificate" in retired
    slots[1] = new
    assert connected()


# A pin no key has: the second slot before anything is staged in it.
ALL_FF_NEVER = " ".join(["01"] * 20)
