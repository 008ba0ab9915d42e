"""Debian's easy-rsa set up the way the manual guide does: org-style names, RSA-2048 CA,
EC P-256 device keys and the reduced "tasmota" certificate profile."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

EASYRSA = Path("/usr/share/easy-rsa/easyrsa")
CA_PASS = "bench ca passphrase"

# The guide's x509-types/tasmota: the smallest profile a Tasmota device accepts.
TASMOTA_PROFILE = """\
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
keyUsage = critical,digitalSignature
"""
GUIDE_VARS = {
    "EASYRSA_DN": "org",
    "EASYRSA_REQ_COUNTRY": "UK",
    "EASYRSA_REQ_PROVINCE": "London",
    "EASYRSA_REQ_CITY": "London",
    "EASYRSA_REQ_ORG": "myorg",
    "EASYRSA_REQ_EMAIL": "info@myorg.com",
    "EASYRSA_REQ_OU": "MQTT",
}


class EasyRsaPki:
    """A pki/ folder driven through the easyrsa script, one process per step as users do."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = root / "pki"
        self.env = {**os.environ, **GUIDE_VARS, "EASYRSA_BATCH": "1", "EASYRSA_PKI": str(self.pki)}

    def run(self, *args: str, **extra_env: str) -> None:
        subprocess.run(
            [str(EASYRSA), *args],
            env={**self.env, **extra_env},
            cwd=self.root,
            check=True,
            capture_output=True,
        )

    def build_ca(self) -> None:
        self.run("init-pki")
        self.run(f"--passin=pass:{CA_PASS}", f"--passout=pass:{CA_PASS}", "build-ca",
                 EASYRSA_REQ_CN="myca")  # fmt: skip
        types = self.root / "x509-types"
        types.mkdir(exist_ok=True)
        for source in EASYRSA.parent.joinpath("x509-types").iterdir():
            (types / source.name).write_text(source.read_text())
        (types / "tasmota").write_text(TASMOTA_PROFILE)
        self.env["EASYRSA_EXT_DIR"] = str(types)

    def issue_device(self, name: str) -> Path:
        """gen-req (EC P-256) + sign-req tasmota; returns the issued certificate."""
        self.run(
            "--use-algo=ec", "--curve=prime256v1", f"--req-cn={name}", "gen-req", name, "nopass"
        )
        self.run(f"--passin=pass:{CA_PASS}", "sign-req", "tasmota", name)
        return self.pki / "issued" / f"{name}.crt"
