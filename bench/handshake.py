"""Instructions the Tasmota-like BearSSL client spends on one full TLS connection,
counted by valgrind's callgrind: our default setup against the manual guide's."""

from __future__ import annotations

import base64
import re
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import PkiStore, key_from_scalar
from custom_components.tasmota_tls.pki.easyrsa import pem_certificate
from custom_components.tasmota_tls.pki.tlskey import private_scalar
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from tests.helpers.bearssl_client import build_client_with_headers, client_command
from tests.helpers.mosquitto import MosquittoBroker

from .easyrsa_peer import CA_PASS, EasyRsaPki
from .report import Result

BROKER = "localhost"
LISTENER = """
listener {tls_port} 127.0.0.1
cafile CA
certfile CERT
keyfile KEY
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
"""


def _ours(root: Path) -> dict[str, Path | bytes]:
    store = PkiStore(root / "pki")
    store.init_ca("p", "Home CA")
    broker = store.issue_broker("p", BROKER)
    device = store.issue_device("p", "tasmota_1A2B3C")
    (root / "ca.crt").write_bytes(store.ca_certificate().public_bytes(serialization.Encoding.PEM))
    (root / "broker.crt").write_bytes(broker.cert_pem)
    (root / "broker.key").write_bytes(broker.key_pem_unencrypted())
    assert device.payloads is not None
    return {
        "ca": root / "ca.crt",
        "cert": root / "broker.crt",
        "key": root / "broker.key",
        "device_key": base64.b64decode(device.payloads.tlskey1),
        "device_der": device.cert_der,
    }


def _guide(root: Path) -> dict[str, Path | bytes]:
    peer = EasyRsaPki(root)
    peer.build_ca()
    peer.run("--req-cn=" + BROKER, "gen-req", BROKER, "nopass")
    peer.run(f"--passin=pass:{CA_PASS}", "sign-req", "server", BROKER)
    device_cert = pem_certificate(peer.issue_device("tasmota_1A2B3C").read_bytes(), "device")
    key_pem = (peer.pki / "private" / "tasmota_1A2B3C.key").read_bytes()
    device_key = serialization.load_pem_private_key(key_pem, None)
    return {
        "ca": peer.pki / "ca.crt",
        "cert": peer.pki / "issued" / f"{BROKER}.crt",
        "key": peer.pki / "private" / f"{BROKER}.key",
        "device_key": private_scalar(device_key),  # type: ignore[arg-type]
        "device_der": device_cert.public_bytes(serialization.Encoding.DER),
    }


def _instructions(setup: dict[str, Path | bytes], root: Path) -> int:
    ca = x509.load_pem_x509_certificate(Path(setup["ca"]).read_bytes())  # type: ignore[arg-type]
    client = build_client_with_headers(*firmware_headers(ca), root / "client")
    key_file, cert_file = root / "device.key.bin", root / "device.der"
    key_file.write_bytes(setup["device_key"])  # type: ignore[arg-type]
    cert_file.write_bytes(setup["device_der"])  # type: ignore[arg-type]
    key_from_scalar(key_file.read_bytes())  # a valid TLSKey1
    config = (
        LISTENER.replace("CA", str(setup["ca"]))
        .replace("CERT", str(setup["cert"]))
        .replace("KEY", str(setup["key"]))
    )
    with MosquittoBroker(config, root / "broker") as broker:
        command = client_command(
            client, host="127.0.0.1", port=broker.ports["tls_port"], server_name=BROKER,
            key_file=key_file, cert_file=cert_file, client_id="bench", timeout_ms=60000,
        )  # fmt: skip
        out = root / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            check=True, capture_output=True,
        )  # fmt: skip
    match = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
    assert match, "callgrind wrote no totals"
    return int(match.group(1))


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ours").mkdir()
        (root / "guide").mkdir()
        ours = _instructions(_ours(root / "ours"), root / "ours")
        guide = _instructions(_guide(root / "guide"), root / "guide")
    return [
        Result("handshake", "BearSSL client, guide's setup (full connect)", f"{guide:,}", "instr"),
        Result("handshake", "BearSSL client, our default (full connect)", f"{ours:,}", "instr"),
        Result("handshake", "ratio ours / guide", f"{ours / guide:.3f}", "x",
               "process start-up and MQTT CONNECT included in both"),
    ]  # fmt: skip
