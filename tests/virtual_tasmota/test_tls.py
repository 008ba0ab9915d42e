"""TLS as the firmware does it, against a real Mosquitto TLS listener that requires certificates.

Credentials come from the project's PKI core and reach the device the way a user sends
them after running the CLI: TLSKey1 and TLSKey2 over MQTT, then one Backlog.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.helpers.mosquitto import connected_line
from virtual_tasmota import DeviceFaults, VirtualDevice
from virtual_tasmota.settings import DEFAULT_FINGERPRINT2
from virtual_tasmota.tls import firmware_fingerprint, format_fingerprint

from .helpers import Rig, RigFactory
from .tls_helpers import Pki, broker_fingerprint, enrol_keys, tls_listener


async def test_hand_enrolment_brings_the_device_back_online_over_tls(
    tls_rig: Rig, pki: Pki
) -> None:
    rig, observer, broker = tls_rig, tls_rig.observer, tls_rig.broker
    assert rig.certfile is not None
    device = await rig.device()
    await enrol_keys(observer, pki, device)

    fingerprint = broker_fingerprint(rig.certfile.read_bytes())
    mark = observer.mark()
    rig.backlog(
        device,
        f"MqttHost 127.0.0.1; MqttPort {rig.tls_port}; SetOption132 1; "
        f"MqttFingerprint1 {fingerprint}; SetOption103 1",
    )
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    await device.wait_state(lambda d: d.tls_active, 10)

    status = await rig.send(device, "Status", "6", reply="STATUS6")
    assert status["StatusMQT"]["MqttTLS"] == 1
    assert status["StatusMQT"]["MqttPort"] == rig.tls_port
    # use_identity_as_username: the broker took the certificate's CN, the device topic.
    assert (f"DVES_{device.mac[-6:]}", device.topic) in broker.connected_usernames()
    assert device.peer_fingerprint == fingerprint
    assert any("MQT: TLS connected in" in line for line in device.events)


async def test_ca_mode_learning_and_the_firmware_error_numbers(tls_rig: Rig, pki: Pki) -> None:
    rig = tls_rig
    assert rig.certfile is not None
    fleet = await rig.fleet(count=4, trust_anchors_pem=pki.ca_pem)
    ca_mode, learner, mismatch, no_ca = fleet.devices
    no_ca.faults = DeviceFaults(reject_tls=True)
    for device in fleet.devices:
        await enrol_keys(rig.observer, pki, device)
    tls_port = rig.tls_port
    switch = f"MqttHost 127.0.0.1; MqttPort {tls_port}"
    rig.backlog(ca_mode, f"{switch}; SetOption103 1")
    rig.backlog(learner, f"{switch}; SetOption132 1; SetOption103 1")
    wrong = " ".join(["12"] * 20)
    rig.backlog(mismatch, f"{switch}; SetOption132 1; MqttFingerprint1 {wrong}; SetOption103 1")
    rig.backlog(no_ca, f"{switch}; SetOption103 1")

    # CA mode: the chain leads to the compiled-in CA and the certificate names MqttHost.
    await ca_mode.wait_state(lambda d: d.tls_active, 10)
    # Fingerprint 1 all zero: accept, then learn and keep the broker's fingerprint.
    await learner.wait_state(lambda d: d.tls_active, 10)
    expected = broker_fingerprint(rig.certfile.read_bytes())
    assert format_fingerprint(bytes.fromhex(learner.settings.fingerprint1)) == expected
    # Only an all-zero slot learns: slot 2 keeps its default (SHA-1 of nothing).
    assert learner.settings.fingerprint2 == DEFAULT_FINGERPRINT2
    assert any(f"MQT: Fingerprint learned: {expected}" in line for line in learner.events)
    # Two independent implementations of the firmware's fingerprint agree.
    der = x509.load_pem_x509_certificate(rig.certfile.read_bytes()).public_bytes(Encoding.DER)
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
    rig_factory: RigFactory, pki: Pki
) -> None:
    rig = rig_factory(tls_listener(*pki.broker_files(host="broker.invalid")))
    device = await rig.device(trust_anchors_pem=pki.ca_pem)
    await enrol_keys(rig.observer, pki, device)
    rig.backlog(device, f"MqttHost 127.0.0.1; MqttPort {rig.tls_port}; SetOption103 1")
    await device.wait_state(
        lambda d: any("MQT: TLS connection error: 56" in line for line in d.events), 10
    )
    assert not device.connected


async def test_no_client_certificate_is_refused_by_the_listener(tls_rig: Rig) -> None:
    rig = tls_rig
    device = await rig.device()
    rig.backlog(
        device,
        f"MqttPort {rig.tls_port}; SetOption132 1; MqttFingerprint1 {'FF ' * 20}; SetOption103 1",
    )
    await device.wait_state(
        lambda d: sum("MQT: TLS connection error:" in line for line in d.events) >= 2, 10
    )
    assert not device.connected
    assert device.settings.fingerprint1 == "FF" * 20  # accept-any is never overwritten by learning


async def test_firmware_13_drops_user_and_password_when_a_key_is_loaded(
    rig_factory: RigFactory, pki: Pki
) -> None:
    config = tls_listener(*pki.broker_files()).replace("use_identity_as_username true", "")
    rig = rig_factory(config)
    old, new = (await rig.fleet(count=2, firmware="13.0.0")).devices
    current = await rig.device(firmware="14.5.0")
    for device in (old, current):
        await enrol_keys(rig.observer, pki, device)
        rig.backlog(
            device,
            f"MqttPort {rig.tls_port}; SetOption132 1; MqttFingerprint1 0; SetOption103 1",
        )
    # 13.0.0 (USE_MQTT_AWS_IOT) refuses to connect over TLS while MqttPassword is empty.
    rig.backlog(new, "MqttPassword 0; SetOption103 1")
    await old.wait_state(lambda d: d.tls_active, 10)
    await current.wait_state(lambda d: d.tls_active, 10)
    await new.wait_state(
        lambda d: any("MQTT not allowed (AWS IoT build)" in x for x in d.events), 10
    )
    assert not new.connected
    users = dict(rig.broker.connected_usernames())
    assert users[f"DVES_{current.mac[-6:]}"] == "DVES_USER"  # USE_MQTT_CLIENT_CERT keeps them
    assert rig.broker.find_log(connected_line(client=f"DVES_{old.mac[-6:]}", anonymous=True))
