"""TLS outcomes that depend on the firmware build and its settings, on a real Mosquitto.

SetOption165 and USE_MQTT_TLS_ECDSA for ECDSA-signed chains (error 49 without them, and no
recovery after 49), SetOption165 set by the firmware after 296, the clock (error 54), the
ESP8266 RSA limit (50) and TLS 1.2 only. Sources: virtual_tasmota/firmware.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from virtual_tasmota import DeviceFaults, VirtualDevice

from .helpers import Rig, RigFactory
from .tls_helpers import Pki, broker_files_signed_by_an_ec_ca, enrol_keys, server_only, tls_errors


def switch(rig: Rig, device: VirtualDevice, extra: str) -> None:
    """To the rig's TLS port with extra settings, then SetOption103 1 (which restarts)."""
    rig.backlog(device, f"MqttPort {rig.tls_port}; {extra}; SetOption103 1")


async def test_an_ecdsa_signed_broker_needs_setoption165_on_an_ecdsa_build(
    rig_factory: RigFactory, tmp_path: Path
) -> None:
    """An EC CA signs an RSA-2048 broker key: the suite is RSA, the chain is ECDSA-signed."""
    leaf = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cafile, certfile, keyfile = broker_files_signed_by_an_ec_ca(tmp_path, leaf)
    rig = rig_factory(server_only(cafile, certfile, keyfile), watch=None)
    anchors = cafile.read_bytes()

    async def device(**build: Any) -> VirtualDevice:
        return await rig.device(trust_anchors_pem=anchors, **build)

    default_165 = await device(firmware="15.2.0")
    esp8266 = await device(firmware="15.2.0")
    esp32 = await device(firmware="15.2.0", chip="esp32")
    no_ecdsa = await device(firmware="15.2.0", tls_ecdsa=False)
    older = await device(firmware="14.5.0", chip="esp32")
    switch(rig, default_165, "SetOption132 0")
    for each in (esp8266, esp32, no_ecdsa, older):
        switch(rig, each, "SetOption132 0; SetOption165 1")

    await esp8266.wait_state(lambda d: d.tls_active, 10)
    await esp32.wait_state(lambda d: d.tls_active, 10)
    for failing in (default_165, no_ecdsa, older):
        await failing.wait_state(lambda d: len(tls_errors(d)) >= 3, 10)
        assert set(tls_errors(failing)) == {49}
        assert not failing.connected
    # 49 is not 296: the firmware does not turn SetOption165 on by itself.
    assert default_165.settings.setoption165 == 0


async def test_an_ec_broker_key_is_reached_after_296_in_ca_mode_never_by_fingerprint(
    rig_factory: RigFactory, tmp_path: Path
) -> None:
    cafile, certfile, keyfile = broker_files_signed_by_an_ec_ca(
        tmp_path, ec.generate_private_key(ec.SECP256R1())
    )
    rig = rig_factory(server_only(cafile, certfile, keyfile), watch=None)
    anchors = cafile.read_bytes()
    fleet = await rig.fleet(count=2, firmware="15.2.0", trust_anchors_pem=anchors)
    ca_mode, pinned = fleet.devices
    no_ecdsa = await rig.device(firmware="15.2.0", tls_ecdsa=False, trust_anchors_pem=anchors)
    switch(rig, ca_mode, "SetOption132 0")
    switch(rig, pinned, "SetOption132 1; MqttFingerprint1 0; SetOption165 1")
    switch(rig, no_ecdsa, "SetOption132 0")

    # RSA suite only at first: the broker has no suite in common (296); the firmware then
    # sets SetOption165 1 and the next attempt offers ECDSA.
    await ca_mode.wait_state(lambda d: d.tls_active, 15)
    assert tls_errors(ca_mode)[0] == 296
    assert ca_mode.settings.setoption165 == 1
    assert any("(ECDHE-ECDSA-AES128-GCM-SHA256)" in line for line in ca_mode.events)
    # Fingerprint mode offers RSA only, whatever SetOption165 says; a build without ECDSA
    # never gets SetOption165 from a 296.
    for failing in (pinned, no_ecdsa):
        await failing.wait_state(lambda d: len(tls_errors(d)) >= 3, 10)
        assert set(tls_errors(failing)) == {296}
        assert not failing.connected
    assert no_ecdsa.settings.setoption165 == 0


async def test_without_a_clock_every_certificate_is_expired(tls_rig: Rig, pki: Pki) -> None:
    """No NTP: the device's time is the stamp saved with its settings; a fresh flash has 1970."""
    rig = tls_rig
    fresh = await rig.device(trust_anchors_pem=pki.ca_pem, faults=DeviceFaults(no_time=True))
    saved = await rig.device(trust_anchors_pem=pki.ca_pem)
    saved.faults = DeviceFaults(no_time=True)  # had NTP until now: its settings carry the time
    for device in (fresh, saved):
        await enrol_keys(rig.observer, pki, device)
        switch(rig, device, "MqttHost 127.0.0.1; SetOption132 0")

    await saved.wait_state(lambda d: d.tls_active, 10)
    await fresh.wait_state(lambda d: len(tls_errors(d)) >= 2, 10)
    assert set(tls_errors(fresh)) == {54}
    assert fresh.settings.cfg_timestamp < 100  # counted up by saves, never a real time
    # Fingerprint mode does not look at dates: the same device connects pinned (set from its
    # web console, since it is off the broker).
    await fresh.http_command("Backlog SetOption132 1; MqttFingerprint1 0")
    await fresh.wait_state(lambda d: d.tls_active, 10)


async def test_tls_1_2_only_and_the_esp8266_rsa_limit(
    rig_factory: RigFactory, pki: Pki, tmp_path: Path
) -> None:
    tls13 = server_only(*pki.broker_files()).replace("tls_version tlsv1.2", "tls_version tlsv1.3")
    big = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    (tmp_path / "big").mkdir()
    big_files = broker_files_signed_by_an_ec_ca(tmp_path / "big", big)
    rigs = {
        "tls13": rig_factory(tls13, watch=None),
        "rsa3072": rig_factory(server_only(*big_files), watch=None),
    }
    results: dict[str, list[int]] = {}
    for name, rig in rigs.items():
        device = await rig.device()
        switch(rig, device, "SetOption132 1; MqttFingerprint1 0")
        await device.wait_state(lambda d: len(tls_errors(d)) >= 2, 10)
        assert not device.connected
        results[name] = tls_errors(device)
    # A TLS 1.3-only broker refuses the 1.2 ClientHello: alert protocol_version (70) received.
    assert set(results["tls13"]) == {256 + 70}
    assert set(results["rsa3072"]) == {50}
