"""Helpers for the tests against a real Mosquitto running the generated bundle."""

from __future__ import annotations

import base64
import datetime as dt
import queue
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from custom_components.tasmota_tls.broker.acl import DeviceTopics, device_topics_from_discovery
from custom_components.tasmota_tls.broker.mosquitto import BundleResult, write_bundle
from custom_components.tasmota_tls.pki import PkiStore, key_from_scalar, private_scalar, profiles
from custom_components.tasmota_tls.pki.keys import plain_pem
from custom_components.tasmota_tls.pki.store import utcnow
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from tests.helpers.bearssl_client import (
    ClientResult,
    build_client_with_headers,
    client_command,
    parse_output,
    run_client,
)
from tests.helpers.mosquitto import BrokerFactory, MosquittoBroker, free_port

from .support import BROKER_HOST, PASSPHRASE, ca_key, discovery

LOOPBACK = "127.0.0.1"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Device:
    topics: DeviceTopics
    key_file: Path  # decoded TLSKey1: the raw 32-byte scalar
    cert_file: Path  # decoded TLSKey2: DER

    @property
    def name(self) -> str:
        return self.topics.name

    @property
    def client_id(self) -> str:
        assert self.topics.client_id is not None
        return self.topics.client_id


@dataclass(frozen=True)
class Pki:
    """One CA for the whole module: the BearSSL client has it compiled in."""

    store: PkiStore
    root: Path
    client: Path
    ca_file: Path
    ha_cert: Path
    ha_key: Path

    def enrol(self, name: str, mac: str) -> Device:
        credential = self.store.issue_device(PASSPHRASE, name)
        assert credential.payloads is not None
        return self._device_files(
            name,
            base64.b64decode(credential.payloads.tlskey1),
            base64.b64decode(credential.payloads.tlskey2),
            mac,
        )

    def expired_device(self, name: str, mac: str) -> Device:
        """Signed by this CA, valid for a day that ended a week ago."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = profiles.build_device(
            ca_key(self.store),
            self.store.ca_certificate(),
            key,
            profiles.make_name(name),
            profiles.new_serial(set()),
            1,
            utcnow() - dt.timedelta(days=8),
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        return self._device_files(name, private_scalar(key), der, mac)

    def _device_files(self, name: str, scalar: bytes, der: bytes, mac: str) -> Device:
        folder = self.root / "devices" / f"{name}-{mac}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tlskey1.bin").write_bytes(scalar)
        (folder / "tlskey2.der").write_bytes(der)
        topics = device_topics_from_discovery(discovery(name, mac))
        return Device(topics, folder / "tlskey1.bin", folder / "tlskey2.der")

    def bundle(self, out: Path, devices: list[Device], port: int) -> BundleResult:
        return write_bundle(
            self.store,
            PASSPHRASE,
            out,
            port=port,
            layout="folder",
            devices=[device.topics for device in devices],
            bind_address=LOOPBACK,
            install_root=str(out),
        )


def start_broker(
    pki: Pki, factory: BrokerFactory, directory: Path, devices: list[Device]
) -> tuple[MosquittoBroker, BundleResult]:
    """The generated bundle, run as is (the helper only adds `user root` and logging)."""
    port = free_port()
    result = pki.bundle(directory / "bundle", devices, port)
    broker = factory(result.files["conf"].read_text(), start=False)
    broker.ports["tls_port"] = port  # the bundle has no placeholder: wait for this port
    return broker.start(), result


def run_device(
    pki: Pki, broker: MosquittoBroker, device: Device, **options: object
) -> ClientResult:
    return run_client(
        pki.client,
        host=LOOPBACK,
        port=broker.port,
        server_name=BROKER_HOST,
        key_file=device.key_file,
        cert_file=device.cert_file,
        client_id=device.client_id,
        **options,  # type: ignore[arg-type]
    )


@contextmanager
def device_in_background(
    pki: Pki, broker: MosquittoBroker, device: Device, **options: object
) -> Iterator[tuple[subprocess.Popen[str], list[ClientResult]]]:
    """Run the device client as a process; its parsed output lands in the list on exit."""
    argv = client_command(
        pki.client,
        host=LOOPBACK,
        port=broker.port,
        server_name=BROKER_HOST,
        key_file=device.key_file,
        cert_file=device.cert_file,
        client_id=device.client_id,
        **options,  # type: ignore[arg-type]
    )
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results: list[ClientResult] = []
    try:
        yield process, results
    finally:
        if process.poll() is None:
            process.kill()
        out, err = process.communicate(timeout=TIMEOUT)
        results.append(parse_output(process.returncode, out, err))


def wait_subscribed(broker: MosquittoBroker, client_id: str, since: int = 0) -> None:
    broker.wait_for_log(rf"Sending SUBACK to {client_id}$", TIMEOUT, since)


class HaClient:
    """Home Assistant's identity: paho-mqtt with its client certificate."""

    def __init__(self, pki: Pki, port: int, client_id: str = "ha-test") -> None:
        context = ssl.create_default_context(cafile=str(pki.ca_file))
        context.load_cert_chain(str(pki.ha_cert), str(pki.ha_key))
        self.port = port
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.reason: object = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.on_subscribe = lambda *_args: self._subscribed.set()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.reason = reason
        self._connected.set()

    def __enter__(self) -> HaClient:
        self.client.connect(LOOPBACK, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(TIMEOUT):
            self.__exit__()
            raise TimeoutError("Home Assistant's client did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(TIMEOUT), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def collect_until(self, topic: str) -> list[tuple[str, bytes]]:
        """Every message up to and including the first one on ``topic``."""
        seen: list[tuple[str, bytes]] = []
        while True:
            item = self.messages.get(timeout=TIMEOUT)
            seen.append(item)
            if item[0] == topic:
                return seen


def device_context(pki: Pki, device: Device, folder: Path) -> ssl.SSLContext:
    """A TLS 1.2 context holding the device's key and certificate, to read the broker's alert."""
    key = key_from_scalar(device.key_file.read_bytes())
    cert = x509.load_der_x509_certificate(device.cert_file.read_bytes())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "device.key").write_bytes(plain_pem(key))
    (folder / "device.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(folder / "device.crt"), str(folder / "device.key"))
    return context


def mqtt_connect_raw(port: int, context: ssl.SSLContext | None) -> str:
    """Send one MQTT CONNECT; "connack:<rc>" when the broker answers, else why not."""
    connect = bytes([0x10, 17, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 5]) + b"probe"
    try:
        with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as raw:
            sock = context.wrap_socket(raw, server_hostname=BROKER_HOST) if context else raw
            sock.sendall(connect)
            reply = sock.recv(4)
    except (ssl.SSLError, OSError) as err:
        return f"refused: {err}"
    if reply[:2] == b"\x20\x02" and len(reply) == 4:
        return f"connack:{reply[3]}"
    return f"refused: reply {reply!r}"


# Fixtures the live tests share: imported by each module that uses them.
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("live")
    store = PkiStore(root / "pki")
    store.init_ca(PASSPHRASE, "Live Broker CA")
    store.issue_broker(PASSPHRASE, BROKER_HOST, extra_names=["127.0.0.1"])
    ha = store.issue_ha_client(PASSPHRASE)
    files = root / "ha"
    files.mkdir()
    (files / "ca.crt").write_bytes(store.ca_certificate().public_bytes(serialization.Encoding.PEM))
    (files / "ha.crt").write_bytes(ha.cert_pem)
    (files / "ha.key").write_bytes(ha.key_pem_unencrypted())
    client = build_client_with_headers(*firmware_headers(store.ca_certificate()), root / "client")
    return Pki(store, root, client, files / "ca.crt", files / "ha.crt", files / "ha.key")
