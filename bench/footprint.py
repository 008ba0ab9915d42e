"""What a certificate costs the device: DER bytes and TLSKey2 command length."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.easyrsa import pem_certificate

from .easyrsa_peer import EasyRsaPki
from .report import Result

NAME = "tasmota_1A2B3C"


def _row(label: str, der: bytes) -> Result:
    command = len("TLSKey2 ") + len(base64.b64encode(der))
    return Result(
        "footprint", label, str(len(der)), "bytes DER", f"TLSKey2 command {command} chars"
    )


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peer = EasyRsaPki(root / "easyrsa")
        peer.root.mkdir()
        peer.build_ca()
        guide = pem_certificate(peer.issue_device(NAME).read_bytes(), "easy-rsa")
        results = [_row("guide: easy-rsa org names, RSA CA, tasmota profile", _der(guide))]
        for label, algo in (("ours: default (CN-only, RSA-2048 CA)", "rsa"),
                            ("ours: CN-only, EC P-256 CA (ESP32)", "ec")):  # fmt: skip
            store = PkiStore(root / algo)
            store.init_ca("p", "Home CA", algo=algo)  # type: ignore[arg-type]
            results.append(_row(label, store.issue_device("p", NAME).cert_der))
    return results


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
