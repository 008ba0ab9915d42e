"""TLS as the firmware does it, against a real Mosquitto TLS listener that requires certificates.

Credentials come from the project's PKI core and reach the device the way a user sends
them after running the CLI: TLSKey1 and TLSKey2 over MQTT, then one Backlog.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from custom_components.tasmota_tls.pki import tasmota_fingerprint
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker, connected_line
from virtual_tasmota import DeviceFaults, VirtualDevice
from virtual_tasmota.settings import DEFAULT_FINGERPRINT2
from virtual_tasmota.tls import firmware_fingerprint, format_fingerprint

from .conftest import PASSPHRASE, FleetFactory, Observer, Pki, send, tls_listener


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


async def test_hand_enrolment_brings_the_device_back_online_over_tls(
    mosquitto_factory: BrokerFactory, observer_factory: Any, fleet_factory: FleetFactory, pki: Pki
) -> None:
    cafile, certfile, keyfile = pki.broker_files()
    broker: MosquittoBroker = mosquitto_factory(tls_listener(cafile, certfile, keyfile))
    observer: Observer = observer_factory(broker.ports["port"])
    observer.subscribe("#")
    device = (await fleet_factory(broker.ports["port"])).devices[0]
    await enrol_keys(observer, pki, device)

    fingerprint = broker_fingerprint(certfile.read_bytes())
    mark = observer.mark()
    observer.publish(
        f"cmnd/{device.topic}/Backlog",
        f"MqttHost 127.0.0.1; MqttPort {broker.ports['tls_port']}; SetOption132 1; "
        f"MqttFingerprint1 {fingerprint}; SetOption103 1",
    )
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    await device.wait_state(lambda d: d.tls_active, 10)

    status = await send(observer, device, "Status", "6", reply="STATUS6")
    assert status["StatusMQT"]["MqttTLS"] == 1
    assert status["StatusMQT"]["MqttPort"] == broker.ports["tls_port"]
    # use_identity_as_username: the broker took the certificate's CN, the device topic.
    assert (f"DVES_{device.mac[-6:]}", device.topic) in broker.connected_usernames()
    assert device.peer_fingerprint == fingerprint
    assert any("MQT: TLS connected in" in line for line in device.events)


async def test_ca_mode_learning_and_the_firmware_error_numbers(
    mosquitto_factory: BrokerFactory, observer_factory: Any, fleet_factory: FleetFactory, pki: Pki
) -> None:
    cafile, certfile, keyfile = pki.broker_files()
    broker: MosquittoBroker = mosquitto_factory(tls_listener(cafile, certfile, keyfile))
    observer: Observer = observer_factory(broker.ports["port"])
    observer.subscribe("#")
    fleet = await fleet_factory(broker.ports["port"], count=4, trust_anchors_pem=pki.ca_pem)
    ca_mode, learner, mismatch, no_ca = fleet.devices
    no_ca.faults = DeviceFaults(reject_tls=True)
    for device in fleet.devices:
        await enrol_keys(observer, pki, device)
    tls_port = broker.ports["tls_port"]
    switch = f"MqttHost 127.0.0.1; MqttPort {tls_port}"
    observer.publish(f"cmnd/{ca_mode.topic}/Backlog", f"{switch}; SetOption103 1")
    observer.publish(f"cmnd/{learner.topic}/Backlog", f"{switch}; SetOption132 1; SetOption103 1")
    wrong = " ".join(["12"] * 20)
    observer.publish(
        f"cmnd/{mismatch.topic}/Backlog",
        f"{switch}; SetOption132 1; MqttFingerprint1 {wrong}; SetOption103 1",
    )
    observer.publish(f"cmnd/{no_ca.topic}/Backlog", f"{switch}; SetOption103 1")

    # CA mode: the chain leads to the compiled-in CA and the certificate names MqttHost.
    await ca_mode.wait_state(lambda d: d.tls_active, 10)
    # Fingerprint 1 all zero: accept, then learn and keep the broker's fingerprint.
    await learner.wait_state(lambda d: d.tls_active, 10)
    expected = broker_fingerprint(certfile.read_bytes())
    assert format_fingerprint(bytes.fromhex(learner.settings.fingerprint1)) == expected
    # Only an all-zero slot learns: slot 2 keeps its default (SHA-1 of nothing).
    assert learner.settings.fingerprint2 == DEFAULT_FINGERPRINT2
    assert any(f"MQT: Fingerprint learned: {expected}" in line for line in learner.events)
    # Two independent implementations of the firmware's fingerprint agree.
    der = x509.load_pem_x509_certificate(certfile.read_bytes()).public_bytes(Encoding.DER)
    assert format_fingerprint(firmware_fingerprint(der)) == expected

    def failures(device: VirtualDevice, text: str) -> int:
        return sum(text in line for line in device.events)

    # A fingerprint that matches neither slot: BearSSL's end_chain returns 1.
    await mismatch.wait_state(lambda d: failures(d, "MQT: TLS connection error: 1") >= 2, 10)
    # Firmware without the local CA: the chain is not trusted, error 62.
    await no_ca.wait_state(lambda d: failures(d, "MQT: TLS connection error: 62") >= 3, 10)
    retries = [
        line.split("Retry in ")[1].split(" sec")[0] for line in no_ca.events if "Retry in" in line
    ]
    assert retries[:3] == ["10", "20", "30"]  # MqttRetry 10, growing by 10 per failure
    assert any(
        f"MQT: Connect failed to 127.0.0.1:{tls_port}, rc -2." in line for line in no_ca.events
    )
    assert not mismatch.connected and not no_ca.connected


async def test_server_name_must_match_mqtthost_in_ca_mode(
    mosquitto_factory: BrokerFactory, observer_factory: Any, fleet_factory: FleetFactory, pki: Pki
) -> None:
    cafile, certfile, keyfile = pki.broker_files(host="broker.invalid")
    broker: MosquittoBroker = mosquitto_factory(tls_listener(cafile, certfile, keyfile))
    observer: Observer = observer_factory(broker.ports["port"])
    observer.subscribe("#")
    device = (await fleet_factory(broker.ports["port"], trust_anchors_pem=pki.ca_pem)).devices[0]
    await enrol_keys(observer, pki, device)
    observer.publish(
        f"cmnd/{device.topic}/Backlog",
        f"MqttHost 127.0.0.1; MqttPort {broker.ports['tls_port']}; SetOption103 1",
    )
    await device.wait_state(
        lambda d: any("MQT: TLS connection error: 56" in line for line in d.events), 10
    )
    assert not device.connected


async def test_no_client_certificate_is_refused_by_the_listener(
    mosquitto_factory: BrokerFactory, observer_factory: Any, fleet_factory: FleetFactory, pki: Pki
) -> None:
    cafile, certfile, keyfile = pki.broker_files()
    broker: MosquittoBroker = mosquitto_factory(tls_listener(cafile, certfile, keyfile))
    observer: Observer = observer_factory(broker.ports["port"])
    observer.subscribe("#")
    device = (await fleet_factory(broker.ports["port"])).devices[0]
    observer.publish(
        f"cmnd/{device.topic}/Backlog",
        f"MqttPort {broker.ports['tls_port']}; SetOption132 1; "
        f"MqttFingerprint1 {'FF ' * 20}; SetOption103 1",
    )
    await device.wait_state(
        lambda d: sum("MQT: TLS connection error:" in line for line in d.events) >= 2, 10
    )
    assert not device.connected
    assert device.settings.fingerprint1 == "FF" * 20  # accept-any is never overwritten by learning


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


async def test_firmware_13_drops_user_and_password_when_a_key_is_loaded(
    mosquitto_factory: BrokerFactory, observer_factory: Any, fleet_factory: FleetFactory, pki: Pki
) -> None:
    cafile, certfile, keyfile = pki.broker_files()
    config = tls_listener(cafile, certfile, keyfile).replace("use_identity_as_username true", "")
    broker: MosquittoBroker = mosquitto_factory(config)
    observer: Observer = observer_factory(broker.ports["port"])
    observer.subscribe("#")
    old, new = (await fleet_factory(broker.ports["port"], count=2, firmware="13.0.0")).devices
    new_fleet = await fleet_factory(broker.ports["port"], firmware="14.5.0")
    current = new_fleet.devices[0]
    for device in (old, current):
        await enrol_keys(observer, pki, device)
        observer.publish(
            f"cmnd/{device.topic}/Backlog",
            f"MqttPort {broker.ports['tls_port']}; SetOption132 1; MqttFingerprint1 0; "
            "SetOption103 1",
        )
    # 13.0.0 (USE_MQTT_AWS_IOT) refuses to connect over TLS while MqttPassword is empty.
    observer.publish(f"cmnd/{new.topic}/Backlog", "MqttPassword 0; SetOption103 1")
    await old.wait_state(lambda d: d.tls_active, 10)
    await current.wait_state(lambda d: d.tls_active, 10)
    await new.wait_state(
        lambda d: any("MQTT not allowed (AWS IoT build)" in x for x in d.events), 10
    )
    assert not new.connected
    users = dict(broker.connected_usernames())
    assert users[f"DVES_{current.mac[-6:]}"] == "DVES_USER"  # USE_MQTT_CLIENT_CERT keeps them
    assert broker.find_log(connected_line(client=f"DVES_{old.mac[-6:]}", anonymous=True))
