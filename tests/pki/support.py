"""What the PKI tests share besides fixtures: the passphrase, snapshots, openssl and Easy-RSA."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PASSPHRASE = "correct horse battery staple"


def snapshot(directory: Path) -> dict[str, str]:
    """Every file's content hash, to prove that a refused operation changed nothing."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def openssl_verify(
    tmp_path: Path, ca: x509.Certificate, cert: x509.Certificate, purpose: str
) -> None:
    ca_file, cert_file = tmp_path / "verify-ca.pem", tmp_path / "verify-cert.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-purpose", purpose, "-CAfile", ca_file, cert_file],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


EASYRSA = Path("/usr/share/easy-rsa/easyrsa")
CA_PASS = "easy-rsa ca pass"


def easyrsa(pki: Path, *args: str) -> None:
    env = {
        **os.environ,
        "EASYRSA_BATCH": "1",
        "EASYRSA_PKI": str(pki),
        "EASYRSA_REQ_CN": "Guide CA",
    }
    result = subprocess.run(
        [str(EASYRSA), *args], env=env, capture_output=True, text=True, cwd=pki.parent, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
