"""TLS material for the virtual Tasmota tests: a CA from the project's PKI core, Mosquitto TLS
listeners, an EC-signed broker made here, and enrolment by TLSKey1/TLSKey2 over MQTT."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from virtual_tasmota import VirtualDevice

from .helpers import Observer, send

PASSPHRASE = "correct horse battery staple"


@dataclass
class Pki:
    store: PkiStore
    ca_pem: bytes
    dir: Path

    def broker_files(self, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
        """(cafile, certfile, keyfile) for a Mosquitto TLS listener; the key file is 0600."""
        issued = self.store.issue_broker(PASSPHRASE, host)
        cafile, certfile, keyfile = (
            self.dir / "ca.pem",
            self.dir / "broker.pem",
            self.dir / "broker.key",
        )
        cafile.write_bytes(self.ca_pem)
        certfile.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(issued.key_pem_unencrypted())
        return cafile, certfile, keyfile


def tls_listener(cafile: Path, certfile: Path, keyfile: Path) -> str:
    return f"""
listener {{port}} 127.0.0.1
allow_anonymous true
listener {{tls_port}} 127.0.0.1
cafile {cafile}
certfile {certfile}
keyfile {keyfile}
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
"""


def server_only(cafile: Path, certfile: Path, keyfile: Path) -> str:
    """A TLS listener that asks for no client certificate: only the server side is tested."""
    config = tls_listener(cafile, certfile, keyfile)
    return config.replace("require_certificate true", "").replace(
        "use_identity_as_username true", ""
    )


def tls_errors(device: VirtualDevice) -> list[int]:
    """The numbers of the device's "MQT: TLS connection error" lines, oldest first."""
    return [
        int(line.rsplit(": ", 1)[1])
        for line in device.events
        if "MQT: TLS connection error" in line
    ]


async def enrol_keys(observer: Observer, pki: Pki, device: VirtualDevice) -> None:
    """TLSKey1 and TLSKey2 from the PKI core's payloads, one MQTT message each."""
    issued = pki.store.issue_device(PASSPHRASE, device.topic)
    assert issued.payloads is not None
    assert await send(observer, device, "TLSKey1", issued.payloads.tlskey1) == {
        "TLSKey1": 32,
        "TLSKey2": -1,
    }
    reply = await send(observer, device, "TLSKey2", issued.payloads.tlskey2)
    assert reply == {"TLSKey1": 32, "TLSKey2": issued.payloads.der_bytes}


def broker_fingerprint(broker_cert: bytes) -> str:
    return tasmota_fingerprint(x509.load_pem_x509_certificate(broker_cert))


def broker_files_signed_by_an_ec_ca(
    directory: Path, leaf_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> tuple[Path, Path, Path]:
    """A P-256 CA and a broker certificate for 127.0.0.1 (also as dNSName), made here:
    the leaf key is the caller's (the PKI core gives every broker an RSA-2048 key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("127.0.0.1")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cafile, certfile, keyfile = (
        directory / "ec-ca.pem",
        directory / "leaf.pem",
        directory / "leaf.key",
    )
    cafile.write_bytes(ca.public_bytes(Encoding.PEM))
    certfile.write_bytes(cert.public_bytes(Encoding.PEM))
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cafile, certfile, keyfile
