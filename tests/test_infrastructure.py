"""The test infrastructure works with real parts: BearSSL client, Mosquitto, real TLS.

A CA, a broker certificate and device certificates are made here with `cryptography`
in the shapes the firmware needs (RSA-2048 CA and broker, EC P-256 device key); the
client's trust anchors are the firmware headers rendered by the PKI core.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.fingerprint import tasmota_fingerprint
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from tests.helpers import mosquitto as mosquitto_helpers
from tests.helpers.bearssl_client import (
    EXIT_CLOSED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TLS,
    ClientBuildError,
    ClientOptions,
    ClientResult,
    async_run_client,
    build_client,
    build_client_with_headers,
    run_client,
)
from tests.helpers.mosquitto import (
    BrokerError,
    BrokerFactory,
    MosquittoBroker,
    connected_line,
    free_port,
    tls_refused_line,
)

mosquitto_factory = mosquitto_helpers.mosquitto_factory  # the fixture, for this module

BR_ERR_X509_NOT_TRUSTED = 62
BR_ERR_X509_BAD_SERVER_NAME = 56
BROKER_NAME = "localhost"

# ----- certificates -----


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    signing_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    dns: str | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name = issuer[0] if issuer else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@dataclass
class Authority:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, cn: str) -> Authority:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, _certificate(cn, key.public_key(), None, key, ca=True))

    def issue_broker(self, directory: Path, host: str) -> tuple[Path, Path]:
        """(certfile, keyfile) PEM for mosquitto: RSA-2048, the only kind ESP8266 speaks to."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _certificate(
            host,
            key.public_key(),
            (self.cert.subject, self.key),
            self.key,
            dns=host,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
        )
        cert_path, key_path = directory / "broker.crt", directory / "broker.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def issue_device(self, directory: Path, cn: str) -> tuple[Path, Path]:
        """(key file with the raw 32-byte scalar, DER cert file): what TLSKey1/2 carry."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            cn,
            key.public_key(),
            (self.cert.subject, self.key),
            self.key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        key_path, cert_path = directory / f"{cn}.key", directory / f"{cn}.der"
        key_path.touch(0o600)
        key_path.write_bytes(key.private_numbers().private_value.to_bytes(32, "big"))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return key_path, cert_path

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


def independent_fingerprint(cert_pem: Path) -> str:
    """Tasmota's MqttFingerprint1, computed here from the facts, not from project code."""
    key = x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    numbers = key.public_numbers()

    def item(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    def unsigned(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    digest = hashlib.sha1(  # the firmware's algorithm
        item(b"ssh-rsa") + item(unsigned(numbers.e)) + item(unsigned(numbers.n))
    ).digest()
    return " ".join(f"{b:02X}" for b in digest)


# ----- fixtures -----


@dataclass
class World:
    directory: Path
    ca_pem: Path
    broker_cert: Path
    broker_key: Path
    device_key: Path
    device_cert: Path
    stranger_key: Path  # a device whose certificate comes from another CA
    stranger_cert: Path
    client: Path  # the client binary, trusting our CA through the firmware headers
    other_ca: Authority


TLS_LISTENER = """
listener {tls_port} 127.0.0.1
cafile {ca}
certfile {cert}
keyfile {key}
require_certificate true
use_identity_as_username true
allow_anonymous false
"""


def tls_listener(ca: Path, cert: Path, key: Path) -> str:
    return (
        TLS_LISTENER.replace("{ca}", str(ca))
        .replace("{cert}", str(cert))
        .replace("{key}", str(key))
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    directory = tmp_path_factory.mktemp("infrastructure")
    ca, other = Authority.create("Test CA"), Authority.create("Other CA")
    broker_cert, broker_key = ca.issue_broker(directory, BROKER_NAME)
    device_key, device_cert = ca.issue_device(directory, "tasmota-dev1")
    stranger_dir = directory / "stranger"
    stranger_dir.mkdir()
    stranger_key, stranger_cert = other.issue_device(stranger_dir, "tasmota-stranger")
    data_h, descriptor_h = firmware_headers(ca.cert)
    client = build_client_with_headers(data_h, descriptor_h, directory / "client")
    return World(
        directory,
        ca.write_pem(directory / "ca.crt"),
        broker_cert,
        broker_key,
        device_key,
        device_cert,
        stranger_key,
        stranger_cert,
        client,
        other,
    )


@pytest.fixture(scope="module")
def broker(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    config = tls_listener(world.ca_pem, world.broker_cert, world.broker_key)
    with MosquittoBroker(config, tmp_path_factory.mktemp("broker")) as running:
        yield running


def connect(world: World, broker: MosquittoBroker, **overrides: object) -> ClientResult:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": broker.ports["tls_port"],
        "server_name": BROKER_NAME,
        "key_file": world.device_key,
        "cert_file": world.device_cert,
        "client_id": "dev1",
    }
    options.update(overrides)
    return run_client(world.client, **options)  # type: ignore[arg-type]


# ----- the client against the broker -----


def test_ca_mode_connects_and_broker_sees_the_certificate_cn(
    world: World, broker: MosquittoBroker
) -> None:
    mark = broker.log_mark()
    result = connect(world, broker, client_id="dev-ca")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.connack == 0
    assert result.connected
    broker.wait_for_log(connected_line(client="dev-ca"), since=mark)
    assert ("dev-ca", "tasmota-dev1") in broker.connected_usernames(since=mark)


def test_subscribe_publish_round_trip(world: World, broker: MosquittoBroker) -> None:
    payload = '{"POWER":"ON","Note":"back\\slash ü"}'
    result = connect(
        world,
        broker,
        client_id="dev-pubsub",
        subscribe=["stat/dev1/#"],
        publish=[("stat/dev1/RESULT", payload), ("tele/dev1/LWT", "Online")],
        wait_ms=500,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert result.subacks == [0]
    assert result.messages == [("stat/dev1/RESULT", payload)]


def test_messages_larger_than_the_device_record_buffer(
    world: World, broker: MosquittoBroker
) -> None:
    # The client keeps the ESP8266's 1 KB record buffers, so this needs max_fragment_length.
    payload = "x" * 3000
    result = connect(
        world,
        broker,
        client_id="dev-large",
        subscribe=["large/#"],
        publish=[("large/one", payload)],
        wait_ms=500,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert result.messages == [("large/one", payload)]


@pytest.mark.parametrize(
    ("broker_tls", "accepted"),
    [
        ("ciphers ECDHE-RSA-AES128-GCM-SHA256", True),
        ("ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305", False),
        ("tls_version tlsv1.3", False),
    ],
)
def test_client_offers_only_what_the_device_offers(
    world: World, mosquitto_factory: BrokerFactory, broker_tls: str, accepted: bool
) -> None:
    config = tls_listener(world.ca_pem, world.broker_cert, world.broker_key) + broker_tls + "\n"
    limited = mosquitto_factory(config)
    result = connect(world, limited, client_id="dev-suites")
    assert result.connected is accepted, result.stderr
    if not accepted:
        assert result.returncode == EXIT_TLS


def test_wrong_server_name_is_refused_by_the_client(world: World, broker: MosquittoBroker) -> None:
    mark = broker.log_mark()
    result = connect(world, broker, client_id="dev-wrongname", server_name="mqtt.example.org")
    assert result.returncode == EXIT_TLS
    assert result.tls_error == BR_ERR_X509_BAD_SERVER_NAME
    assert result.connack is None
    assert "dev-wrongname" not in broker.log_text()[mark:]


def test_broker_refuses_a_client_certificate_from_another_ca(
    world: World, broker: MosquittoBroker
) -> None:
    mark = broker.log_mark()
    result = connect(
        world,
        broker,
        client_id="dev-stranger",
        key_file=world.stranger_key,
        cert_file=world.stranger_cert,
    )
    assert result.returncode == EXIT_TLS
    assert result.connack is None
    broker.wait_for_log(tls_refused_line(), since=mark)
    assert "dev-stranger" not in broker.log_text()[mark:]


def test_fingerprint_mode_accepts_the_broker_key(world: World, broker: MosquittoBroker) -> None:
    expected = independent_fingerprint(world.broker_cert)
    result = connect(world, broker, client_id="dev-fp", fingerprint=expected)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.connack == 0
    assert result.server_fingerprint == expected


def test_fingerprint_mode_refuses_another_fingerprint(
    world: World, broker: MosquittoBroker
) -> None:
    right = independent_fingerprint(world.broker_cert)
    wrong = ("00" if right[:2] != "00" else "01") + right[2:]
    result = connect(world, broker, client_id="dev-fp-wrong", fingerprint=wrong)
    assert result.returncode == EXIT_TLS
    assert result.tls_error == BR_ERR_X509_NOT_TRUSTED
    assert result.server_fingerprint == right


def test_fingerprint_all_zero_accepts_and_reports_the_key(
    world: World, broker: MosquittoBroker
) -> None:
    result = connect(world, broker, client_id="dev-learn", fingerprint=" ".join(["00"] * 20))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.server_fingerprint == independent_fingerprint(world.broker_cert)


def test_pki_fingerprint_agrees_with_the_client(world: World, broker: MosquittoBroker) -> None:
    broker_cert = x509.load_pem_x509_certificate(world.broker_cert.read_bytes())
    result = connect(world, broker, client_id="dev-fp-pki", fingerprint=" ".join(["FF"] * 20))
    assert result.returncode == EXIT_OK, result.stderr
    assert tasmota_fingerprint(broker_cert) == result.server_fingerprint


def test_ca_mode_refuses_a_broker_from_another_ca(
    world: World, mosquitto_factory: BrokerFactory, tmp_path: Path
) -> None:
    cert, key = world.other_ca.issue_broker(tmp_path, BROKER_NAME)
    other_ca_pem = world.other_ca.write_pem(tmp_path / "other-ca.crt")
    foreign = mosquitto_factory(tls_listener(other_ca_pem, cert, key))
    result = connect(world, foreign, client_id="dev-foreign")
    assert result.returncode == EXIT_TLS
    assert result.tls_error == BR_ERR_X509_NOT_TRUSTED


async def test_async_client_and_log_wait(world: World, broker: MosquittoBroker) -> None:
    mark = broker.log_mark()
    result = await async_run_client(
        world.client,
        host="127.0.0.1",
        port=broker.ports["tls_port"],
        server_name=BROKER_NAME,
        key_file=world.device_key,
        cert_file=world.device_cert,
        client_id="dev-async",
    )
    assert result.connected, result.stderr
    match = await broker.async_wait_for_log(
        connected_line(client="dev-async", user="([^']*)"), since=mark
    )
    assert match.group(1) == "tasmota-dev1"


async def test_a_waiting_client_notices_when_the_broker_drops_it(
    world: World, broker: MosquittoBroker
) -> None:
    options: ClientOptions = {
        "host": "127.0.0.1",
        "port": broker.ports["tls_port"],
        "server_name": BROKER_NAME,
        "key_file": world.device_key,
        "cert_file": world.device_cert,
        "client_id": "dev-takeover",
    }
    mark = broker.log_mark()
    waiting = asyncio.create_task(async_run_client(world.client, **(options | {"wait_ms": 20000})))
    await broker.async_wait_for_log(r"as dev-takeover \(", since=mark)
    # The same client id connecting again makes the broker drop the first connection.
    second = await async_run_client(world.client, **options)
    async with asyncio.timeout(10):
        first = await waiting
    assert second.connected, second.stderr
    assert first.connack == 0
    assert first.returncode == EXIT_CLOSED


# ----- exit codes and bounds -----


def test_connack_refusal_exits_3(world: World, mosquitto_factory: BrokerFactory) -> None:
    # Same TLS listener, but the username comes from a password file instead of the CN.
    config = tls_listener(world.ca_pem, world.broker_cert, world.broker_key).replace(
        "use_identity_as_username true", "password_file {dir}/empty.passwd"
    )
    broker = mosquitto_factory(config, start=False)
    (broker.directory / "empty.passwd").write_text("")
    broker.start()
    result = connect(world, broker, client_id="dev-nopass", username="nobody", password="x")
    assert result.returncode == EXIT_REFUSED
    assert result.connack == 5


def test_silent_server_times_out_with_exit_4(world: World) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = run_client(
            world.client,
            host="127.0.0.1",
            port=port,
            server_name=BROKER_NAME,
            key_file=world.device_key,
            cert_file=world.device_cert,
            client_id="dev-timeout",
            timeout_ms=300,
        )
    assert result.returncode == EXIT_CLOSED
    assert "timeout" in result.stderr


def test_closed_port_exits_4(world: World) -> None:
    result = run_client(
        world.client,
        host="127.0.0.1",
        port=free_port(),
        server_name=BROKER_NAME,
        key_file=world.device_key,
        cert_file=world.device_cert,
        client_id="dev-closed",
    )
    assert result.returncode == EXIT_CLOSED


def test_key_that_is_not_a_32_byte_scalar_is_a_usage_error(world: World, tmp_path: Path) -> None:
    pem_key = tmp_path / "key.pem"
    pem_key.write_bytes(b"-----BEGIN " + b"PRIVATE KEY-----\n" + b"A" * 64 + b"\n")  # not a key
    result = run_client(
        world.client,
        host="127.0.0.1",
        port=free_port(),
        server_name=BROKER_NAME,
        key_file=pem_key,
        cert_file=world.device_cert,
        client_id="dev-badkey",
    )
    assert result.returncode == 1
    assert "32-byte" in result.stderr


def test_broken_header_fails_the_build(tmp_path: Path) -> None:
    include = tmp_path / "include"
    include.mkdir()
    (include / "local_ca_data.h").write_text("static const unsigned char PROGMEM TA0_DN[] = {\n")
    (include / "local_ca_descriptor.h").write_text("")
    with pytest.raises(ClientBuildError):
        build_client(include, tmp_path / "client")


# ----- the broker helper -----


def test_reload_restart_and_stop(world: World, mosquitto_factory: BrokerFactory) -> None:
    broker = mosquitto_factory(tls_listener(world.ca_pem, world.broker_cert, world.broker_key))
    port = broker.ports["tls_port"]
    broker.reload()
    assert broker.running
    first_pid = broker.pid
    broker.restart()
    assert broker.pid != first_pid
    assert broker.ports["tls_port"] == port
    assert connect(world, broker, client_id="dev-restart").connected
    process_pid = broker.pid
    assert broker.stop() is not None
    assert not broker.running
    assert process_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process_pid, 0)  # reaped, not a zombie


def test_bad_config_raises_with_the_log(mosquitto_factory: BrokerFactory) -> None:
    with pytest.raises(BrokerError, match="no_such_option"):
        mosquitto_factory("listener {port} 127.0.0.1\nno_such_option true\n")


def test_wait_for_log_is_bounded(mosquitto_factory: BrokerFactory) -> None:
    broker = mosquitto_factory("listener {port} 127.0.0.1\nallow_anonymous true\n")
    with pytest.raises(BrokerError, match="never logged"):
        broker.wait_for_log("never logged", timeout=0.2)
    assert broker.find_log(r"mosquitto version 2\.\d+\.\d+ running") is not None


# ----- the project's PKI core, end to end -----

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def store_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[PkiStore, Path]:
    """A PkiStore with an RSA CA, and the client built from its firmware headers."""
    store = PkiStore(tmp_path_factory.mktemp("store") / "pki")
    store.init_ca(PASSPHRASE, "Home CA")
    data_h, descriptor_h = firmware_headers(store.ca_certificate())
    client = build_client_with_headers(data_h, descriptor_h, tmp_path_factory.mktemp("client"))
    return store, client


@pytest.mark.parametrize(
    "mqtt_host",
    [
        "mqtt.home.arpa",
        "127.0.0.1",  # BearSSL needs the IP as a dNSName entry too
    ],
)
def test_pki_store_credentials_connect_end_to_end(
    store_client: tuple[PkiStore, Path],
    mosquitto_factory: BrokerFactory,
    tmp_path: Path,
    mqtt_host: str,
) -> None:
    store, client = store_client
    broker_credential = store.issue_broker(PASSPHRASE, mqtt_host)
    (tmp_path / "broker.crt").write_bytes(broker_credential.cert_pem)
    broker_key = tmp_path / "broker.key"
    broker_key.touch(0o600)
    broker_key.write_bytes(broker_credential.key_pem_unencrypted())
    device = store.issue_device(PASSPHRASE, "kitchen")
    assert device.payloads is not None
    key_file, cert_file = tmp_path / "tlskey1.bin", tmp_path / "tlskey2.der"
    key_file.touch(0o600)
    key_file.write_bytes(base64.b64decode(device.payloads.tlskey1))
    cert_file.write_bytes(base64.b64decode(device.payloads.tlskey2))
    broker = mosquitto_factory(
        tls_listener(store.directory / "ca.crt", tmp_path / "broker.crt", broker_key)
    )

    result = run_client(
        client,
        host="127.0.0.1",
        port=broker.ports["tls_port"],
        server_name=mqtt_host,
        key_file=key_file,
        cert_file=cert_file,
        client_id="kitchen",
    )

    assert result.returncode == EXIT_OK, result.stderr
    assert ("kitchen", "kitchen") in broker.connected_usernames()
