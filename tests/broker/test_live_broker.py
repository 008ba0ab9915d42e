"""The generated bundle on a real Mosquitto, with a Tasmota-like BearSSL client as the device.

Every check looks at delivery, not only at return codes: Mosquitto 2.0 grants a SUBSCRIBE
that its ACL file forbids and then drops the messages, so a SUBACK proves nothing.
"""

from __future__ import annotations

import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from custom_components.tasmota_tls.broker.mosquitto import (
    BundleResult,
    Layout,
    reload_broker,
    write_bundle,
)
from custom_components.tasmota_tls.pki import PkiStore
from tasmota_tls_tool.cli import main
from tests.helpers.bearssl_client import EXIT_CLOSED, EXIT_OK, EXIT_TLS
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker, free_port

from .live import (
    LOOPBACK,
    TIMEOUT,
    Device,
    HaClient,
    Pki,
    device_context,
    device_in_background,
    mqtt_connect_raw,
    run_device,
    start_broker,
    wait_subscribed,
)
from .support import PASSPHRASE, expired_crl_pem

Start = Callable[[list[Device]], tuple[MosquittoBroker, BundleResult]]

pytestmark = pytest.mark.usefixtures("live_passphrase")


@pytest.fixture
def start(pki: Pki, tmp_path: Path, mosquitto_factory: BrokerFactory) -> Start:
    """Start a broker on the bundle for these devices; stopped at teardown."""
    return lambda devices: start_broker(pki, mosquitto_factory, tmp_path, devices)


def test_enrolled_device_connects_with_the_tasmota_cipher_and_its_cn_as_username(
    pki: Pki, tmp_path: Path, start: Start
) -> None:
    plug = pki.enrol("conn-plug", "0A0000000001")
    broker, _ = start([plug])

    result = run_device(pki, broker, plug, publish=[("tele/conn-plug/STATE", "{}")])

    assert result.connected, result.stderr
    assert ("DVES_000001", "conn-plug") in broker.connected_usernames()


def test_device_reads_only_its_own_commands(pki: Pki, tmp_path: Path, start: Start) -> None:
    plug = pki.enrol("read-plug", "0A0000000011")
    other = pki.enrol("read-other", "0A0000000012")
    broker, _ = start([plug, other])

    with HaClient(pki, broker.port) as ha:
        # Retained: delivered at SUBSCRIBE time, if the ACL lets the device read it.
        ha.publish("cmnd/read-other/TLSKey1", "retained-secret", retain=True)
        ha.publish("cmnd/read-plug/POWER", "retained-own", retain=True)
        mark = broker.log_mark()
        with device_in_background(
            pki, broker, plug,
            subscribe=["cmnd/read-other/#", "cmnd/read-plug/#", "#"],
            wait_ms=2500,
        ) as (process, results):  # fmt: skip
            wait_subscribed(broker, plug.client_id, mark)
            ha.publish("cmnd/read-other/TLSKey1", "live-secret")
            ha.publish("cmnd/tasmotas/POWER", "group")  # the group topic reaches every device
            ha.publish("cmnd/read-plug/POWER", "live-own")
            process.wait(TIMEOUT)
        ha.publish("cmnd/read-other/TLSKey1", "", retain=True)
        ha.publish("cmnd/read-plug/POWER", "", retain=True)
    (result,) = results

    assert result.returncode == EXIT_OK, result.stderr
    # The SUBACK grants the foreign subscription; the ACL stops the messages.
    assert result.subacks == [0, 0, 0]
    payloads = [payload for _topic, payload in result.messages]
    assert "live-own" in payloads
    assert "retained-own" in payloads
    assert "group" in payloads
    assert not [m for m in result.messages if m[0].startswith("cmnd/read-other/")]
    assert "secret" not in " ".join(payloads)


def test_device_writes_only_its_own_stat_tele_and_discovery(
    pki: Pki, tmp_path: Path, start: Start
) -> None:
    plug = pki.enrol("write-plug", "0A0000000021")
    other = pki.enrol("write-other", "0A0000000022")
    broker, _ = start([plug, other])

    with HaClient(pki, broker.port) as ha:
        ha.subscribe("#")
        result = run_device(
            pki, broker, plug,
            publish=[
                ("stat/write-other/RESULT", "forged"),
                ("tasmota/discovery/0A0000000022/config", "forged"),
                ("cmnd/write-other/POWER", "forged"),
                ("cmnd/write-plug/POWER", ""),
                ("tele/write-plug/STATE", "own-tele"),
                ("tasmota/discovery/0A0000000021/config", "own-discovery"),
                ("stat/write-plug/RESULT", "own-stat"),
            ],
        )  # fmt: skip
        seen = ha.collect_until("stat/write-plug/RESULT")

    assert result.connected, result.stderr
    topics = [topic for topic, _payload in seen]
    assert topics == [
        "cmnd/write-plug/POWER",
        "tele/write-plug/STATE",
        "tasmota/discovery/0A0000000021/config",
        "stat/write-plug/RESULT",
    ]
    assert all(payload != b"forged" for _topic, payload in seen)


def test_home_assistant_reads_and_writes_everything(pki: Pki, tmp_path: Path, start: Start) -> None:
    plug = pki.enrol("ha-plug", "0A0000000031")
    broker, _ = start([plug])

    with HaClient(pki, broker.port) as ha:
        ha.subscribe("#")
        ha.publish("anything/at/all", "from-ha")
        ha.publish("stat/ha-plug/RESULT", "ha-writes-device-topics")
        seen = ha.collect_until("stat/ha-plug/RESULT")
        mark = broker.log_mark()
        with device_in_background(
            pki, broker, plug, subscribe=["cmnd/ha-plug/#"], wait_ms=1500
        ) as (process, results):
            wait_subscribed(broker, plug.client_id, mark)
            ha.publish("cmnd/ha-plug/POWER", "ON")
            process.wait(TIMEOUT)

    assert ("anything/at/all", b"from-ha") in seen
    assert results[0].messages == [("cmnd/ha-plug/POWER", "ON")]


def test_an_identity_without_acl_entry_gets_nothing(pki: Pki, tmp_path: Path, start: Start) -> None:
    enrolled = pki.enrol("acl-plug", "0A0000000041")
    newcomer = pki.enrol("acl-newcomer", "0A0000000042")  # valid certificate, not in the bundle
    broker, _ = start([enrolled])

    with HaClient(pki, broker.port) as ha:
        ha.subscribe("#")
        ha.publish("cmnd/acl-newcomer/POWER", "retained", retain=True)
        result = run_device(
            pki, broker, newcomer,
            subscribe=["#"],
            publish=[("stat/acl-newcomer/RESULT", "x"), ("tele/acl-plug/LWT", "forged")],
            wait_ms=500,
        )  # fmt: skip
        ha.publish("cmnd/acl-newcomer/POWER", "", retain=True)
        ha.publish("done", "")
        seen = ha.collect_until("done")

    assert result.connected  # the certificate is valid; the ACL gives it nothing
    assert result.messages == []
    assert [topic for topic, _ in seen if "acl-" in topic and not topic.startswith("cmnd/")] == []


def _tls_context(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_file))


def test_connections_that_must_be_refused(pki: Pki, tmp_path: Path, start: Start) -> None:
    plug = pki.enrol("refuse-plug", "0A0000000051")
    expired = pki.expired_device("refuse-plug", "0A0000000052")
    foreign_store = PkiStore(tmp_path / "foreign")
    foreign_store.init_ca(PASSPHRASE, "Another CA")
    foreign = Pki(foreign_store, tmp_path, pki.client, pki.ca_file, pki.ha_cert, pki.ha_key)
    stranger = foreign.enrol("refuse-plug", "0A0000000053")  # same CN, other CA
    broker, _ = start([plug])

    assert run_device(pki, broker, plug).connected  # the control: a good device gets in

    for device, alert in ((expired, "CERTIFICATE_EXPIRED"), (stranger, "UNKNOWN_CA")):
        result = run_device(pki, broker, device)
        assert result.returncode == EXIT_TLS, result.stdout
        assert result.connack is None  # refused in the TLS handshake, before MQTT
        # The same credentials over OpenSSL show the broker's reason (BearSSL only sees EOF).
        probe = mqtt_connect_raw(broker.port, device_context(pki, device, tmp_path / alert))
        assert alert in probe, probe

    no_certificate = mqtt_connect_raw(broker.port, _tls_context(pki))
    assert no_certificate.startswith("refused"), no_certificate
    broker.wait_for_log(r"peer did not return a certificate", TIMEOUT)

    plaintext = mqtt_connect_raw(broker.port, None)
    assert plaintext.startswith("refused"), plaintext

    old = _tls_context(pki)
    old.load_cert_chain(str(pki.ha_cert), str(pki.ha_key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    tls11 = mqtt_connect_raw(broker.port, old)
    assert "ALERT_PROTOCOL_VERSION" in tls11  # the broker's alert, not a local refusal
    broker.wait_for_log(r"unsupported protocol", TIMEOUT)

    good = _tls_context(pki)
    good.load_cert_chain(str(pki.ha_cert), str(pki.ha_key))
    assert mqtt_connect_raw(broker.port, good) == "connack:0"  # the same probe, accepted


def test_revoked_device_is_refused_after_reload(pki: Pki, tmp_path: Path, start: Start) -> None:
    plug = pki.enrol("revoke-plug", "0A0000000061")
    bystander = pki.enrol("revoke-bystander", "0A0000000062")
    broker, _ = start([plug, bystander])
    assert run_device(pki, broker, plug).connected

    pki.store.revoke(PASSPHRASE, "revoke-plug")
    update = pki.bundle(tmp_path / "bundle", [plug, bystander], broker.port)
    assert set(update.changed) == {"crl", "acl", "readme"}
    assert not update.restart_needed
    mark = broker.log_mark()
    assert broker.pid is not None
    reload_broker(pid=broker.pid)
    broker.wait_for_log(r"Reloading config\.", TIMEOUT, since=mark)

    refused = run_device(pki, broker, plug)
    assert not refused.connected
    assert refused.connack is None
    probe = mqtt_connect_raw(broker.port, device_context(pki, plug, tmp_path / "probe"))
    assert "CERTIFICATE_REVOKED" in probe, probe
    assert run_device(pki, broker, bystander).connected


def test_reload_reads_the_pid_file(pki: Pki, tmp_path: Path, start: Start) -> None:
    broker, _ = start([])
    assert broker.pid is not None
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    mark = broker.log_mark()

    assert main(["--pki", str(pki.store.directory), "reload", "--pid-file", str(pid_file)]) == 0
    broker.wait_for_log(r"Reloading config\.", TIMEOUT, since=mark)


def test_online_revoked_device_is_silenced_by_reload_and_cut_off_by_restart(
    pki: Pki, tmp_path: Path, start: Start
) -> None:
    plug = pki.enrol("online-plug", "0A0000000071")
    bystander = pki.enrol("online-bystander", "0A0000000072")
    broker, _ = start([plug, bystander])

    with HaClient(pki, broker.port) as ha:
        mark = broker.log_mark()
        with device_in_background(
            pki, broker, plug, subscribe=["cmnd/online-plug/#"], wait_ms=30000
        ) as (process, results):
            wait_subscribed(broker, plug.client_id, mark)
            ha.publish("cmnd/online-plug/POWER", "before-revoke")

            # Documented step 1: revoke, regenerate the bundle (CRL + ACL without the
            # device), reload. The open connection survives, but the ACL gives it nothing.
            pki.store.revoke(PASSPHRASE, "online-plug", "key_compromise")
            pki.bundle(tmp_path / "bundle", [plug, bystander], broker.port)
            mark = broker.log_mark()
            reload_broker(pid=broker.pid)
            broker.wait_for_log(r"Reloading config\.", TIMEOUT, since=mark)
            ha.publish("cmnd/online-plug/POWER", "after-reload")
            ha.publish("cmnd/online-plug/POWER", "after-reload-2")
            time.sleep(0.3)
            assert process.poll() is None  # still connected

            # Documented step 2: restart the broker; the connection ends at once.
            broker.restart()
            process.wait(TIMEOUT)  # long before its 30 s wait is over

    (result,) = results
    assert result.returncode == EXIT_CLOSED
    assert result.messages == [("cmnd/online-plug/POWER", "before-revoke")]
    again = run_device(pki, broker, plug)
    assert not again.connected
    assert again.connack is None
    assert run_device(pki, broker, bystander).connected


def test_expired_crl_locks_out_until_refreshed(pki: Pki, tmp_path: Path, start: Start) -> None:
    plug = pki.enrol("crl-plug", "0A0000000081")
    broker, bundle = start([plug])
    assert run_device(pki, broker, plug).connected

    # Time passes: the CRL on the broker reaches its nextUpdate.
    crl_path = bundle.files["crl"]
    crl_path.write_bytes(expired_crl_pem(pki.store))
    mark = broker.log_mark()
    reload_broker(pid=broker.pid)
    broker.wait_for_log(r"Reloading config\.", TIMEOUT, since=mark)
    assert main(["--pki", str(pki.store.directory), "status", "--crl", str(crl_path)]) == 3

    locked_out = run_device(pki, broker, plug)
    assert not locked_out.connected
    probe = mqtt_connect_raw(broker.port, device_context(pki, plug, tmp_path / "probe"))
    assert "CERTIFICATE_EXPIRED" in probe, probe  # OpenSSL's alert for an expired CRL too

    # The documented upkeep: `crl --out <the broker's crlfile>`, then reload.
    assert main(["--pki", str(pki.store.directory), "crl", "--out", str(crl_path)]) == 0
    mark = broker.log_mark()
    assert main(["--pki", str(pki.store.directory), "reload", "--pid", str(broker.pid)]) == 0
    broker.wait_for_log(r"Reloading config\.", TIMEOUT, since=mark)
    assert main(["--pki", str(pki.store.directory), "status", "--crl", str(crl_path)]) == 0

    assert run_device(pki, broker, plug).connected


@pytest.mark.parametrize(
    ("layout", "mac"), [("server", "0A0000000091"), ("ha-addon", "0A0000000092")]
)
def test_server_and_addon_layouts_run_as_generated(
    pki: Pki, tmp_path: Path, mosquitto_factory: BrokerFactory, layout: Layout, mac: str
) -> None:
    plug = pki.enrol(f"{layout}-plug", mac)
    port, bootstrap = free_port(), free_port()
    out = tmp_path / "root"  # installed in place: the tree is the broker's file system
    result = write_bundle(
        pki.store, PASSPHRASE, out, port=port, layout=layout, devices=[plug.topics],
        bind_address=LOOPBACK, install_root=str(out), bootstrap_port=bootstrap,
    )  # fmt: skip
    # Enrolment time: uncomment the bootstrap listener, as its comment says.
    conf = result.files["conf"].read_text()
    commented = f"#listener {bootstrap} 127.0.0.1\n#protocol mqtt\n"
    assert commented in conf
    broker = mosquitto_factory(conf.replace(commented, commented.replace("#", "")), start=False)
    broker.ports.update(tls_port=port, bootstrap_port=bootstrap)
    broker.start()

    assert run_device(pki, broker, plug).connected
    with HaClient(pki, port) as ha:
        ha.subscribe("#")
        ha.publish("stat/anything", "x")
        assert ha.collect_until("stat/anything")[-1] == ("stat/anything", b"x")
    # Plaintext, loopback only, and still no anonymous client (CONNACK 5: not authorised).
    assert mqtt_connect_raw(bootstrap, None) == "connack:5"
    broker.wait_for_log(rf"Opening ipv4 listen socket on port {bootstrap}\.", TIMEOUT)
