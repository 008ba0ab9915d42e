"""Pinned devices across broker certificate changes, on a real Mosquitto.

The firmware pins the broker's public key (SHA-1 over "ssh-rsa", e, n), not its certificate:
a certificate re-issued with the same key keeps every pin valid, and a new key is safe only
once its fingerprint sits in MqttFingerprint2 on every device (the firmware accepts either
slot). The pins are computed by the integration's PKI core, the checks by the simulator.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from custom_components.tasmota_tls.pki import tasmota_fingerprint
from virtual_tasmota import VirtualDevice

from .helpers import ObserverFactory, RigFactory
from .tls_helpers import server_only, tls_errors

HOST = "127.0.0.1"


class BrokerCa:
    """An RSA CA that issues broker certificates for HOST with a given key (made here, so
    that a re-issue with the same key needs nothing from the PKI core)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rotation test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cafile = directory / "ca.pem"
        self.certfile = directory / "broker.pem"
        self.keyfile = directory / "broker.key"
        self.cafile.write_bytes(self.cert.public_bytes(Encoding.PEM))

    def install(self, key: rsa.RSAPrivateKey, days: int) -> x509.Certificate:
        """A new broker certificate (new serial, new dates) for key, written where the
        listener reads it."""
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.certfile.write_bytes(cert.public_bytes(Encoding.PEM))
        self.keyfile.touch(mode=0o600)
        self.keyfile.write_bytes(
            key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
        return cert


async def reconnected(devices: list[VirtualDevice], counts: dict[str, int]) -> None:
    """Every device has made a new connection since counts and is on TLS."""
    for device in devices:
        await device.wait_state(lambda d: d.tls_active and d.connect_count > counts[d.mac], 20)


def connect_counts(devices: list[VirtualDevice]) -> dict[str, int]:
    return {device.mac: device.connect_count for device in devices}


async def test_reissue_keeps_the_pin_and_a_staged_rotation_drops_no_device(
    rig_factory: RigFactory, observer_factory: ObserverFactory, tmp_path: Path
) -> None:
    ca = BrokerCa(tmp_path)
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    first = ca.install(old_key, days=30)
    pin = tasmota_fingerprint(first)
    rig = rig_factory(server_only(ca.cafile, ca.certfile, ca.keyfile), watch=None)
    broker = rig.broker
    fleet = await rig.fleet(count=4)
    *pinned, unstaged = fleet.devices
    for device in fleet.devices:
        rig.backlog(
            device,
            f"MqttHost {HOST}; MqttPort {rig.tls_port}; SetOption132 1; "
            f"MqttFingerprint1 {pin}; SetOption103 1",
        )
    for device in fleet.devices:
        await device.wait_state(lambda d: d.tls_active, 15)

    # Re-issued with the same key (what renewal does): new serial and dates, same pin.
    counts = connect_counts(fleet.devices)
    renewed = ca.install(old_key, days=825)
    assert renewed.serial_number != first.serial_number
    assert tasmota_fingerprint(renewed) == pin
    broker.restart()
    await reconnected(fleet.devices, counts)
    assert all(1 not in tls_errors(device) for device in fleet.devices)

    # Rotation, step 1: the new key's pin goes into MqttFingerprint2 (the device restarts and
    # comes back on the current key through slot 1).
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    staged_pin = tasmota_fingerprint(
        x509.CertificateBuilder()
        .subject_name(ca.name)
        .issuer_name(ca.name)
        .public_key(new_key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
        .sign(ca.key, hashes.SHA256())
    )
    counts = connect_counts(pinned)
    observer = observer_factory(rig.port)  # the first one went with the restart
    for device in pinned:
        observer.publish(f"cmnd/{device.topic}/MqttFingerprint2", staged_pin)
    await reconnected(pinned, counts)
    for device in pinned:
        assert device.settings.fingerprint2 == staged_pin.replace(" ", "")

    # Step 2: the broker switches to the new key. Every staged device comes back; the one
    # that was not staged is refused with the firmware's fingerprint mismatch (1).
    counts = connect_counts(pinned)
    errors_before = {device.mac: len(tls_errors(device)) for device in fleet.devices}
    switched = ca.install(new_key, days=825)
    assert tasmota_fingerprint(switched) == staged_pin
    broker.restart()
    await reconnected(pinned, counts)
    for device in pinned:
        assert device.peer_fingerprint == staged_pin
        assert 1 not in tls_errors(device)[errors_before[device.mac] :]
    await unstaged.wait_state(
        lambda d: 1 in tls_errors(d)[errors_before[d.mac] :] and not d.connected, 15
    )
