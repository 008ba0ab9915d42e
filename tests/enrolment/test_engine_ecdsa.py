"""An EC CA in CA mode: the engine sends SetOption165 1, and a device that cannot verify ECDSA
ends failed with its own reason, back on its previous settings.

Real components: the PKI core makes the EC CA (its broker key stays RSA-2048), Mosquitto serves
the ECDSA-signed broker certificate, virtual devices run a 15.2.0 build with or without
USE_MQTT_TLS_ECDSA, and the Tasmota-like BearSSL client checks the same credentials.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentError, EnrolmentStep
from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.trust_anchor import firmware_headers
from tests.helpers.bearssl_client import (
    EXIT_TLS,
    async_run_client,
    build_client_with_headers,
)

from .helpers import PASSPHRASE, Issued, JournalLog
from .virtual_world import (
    BROKER_NAME,
    USER_RULE,
    BrokerFiles,
    mqtt_settings,
    rule_slot,
    set_user_rule,
    write_broker_files,
)


@pytest.fixture(scope="module")
def ec_store(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("ec-pki") / "store")
    store.init_ca(PASSPHRASE, "Test EC Tasmota CA", algo="ec")
    return store


@pytest.fixture(scope="module")
def ec_files(ec_store: PkiStore, tmp_path_factory: pytest.TempPathFactory) -> BrokerFiles:
    return write_broker_files(ec_store, tmp_path_factory.mktemp("ec-broker"))


def ca_options(w: Any) -> Any:
    return w.options(validation="ca", fingerprint=None)


def tls_errors(virtual: Any) -> list[int]:
    return [
        int(line.rsplit(": ", 1)[1]) for line in virtual.events if "TLS connection error" in line
    ]


async def test_ec_ca_enrolment_sets_setoption165_and_connects(
    world: Any, ec_store: PkiStore, ec_files: BrokerFiles, journal: JournalLog
) -> None:
    broker_cert = x509.load_pem_x509_certificate((ec_files.directory / "broker.crt").read_bytes())
    assert isinstance(broker_cert.signature_algorithm_parameters, ec.ECDSA)  # EC CA signs
    assert isinstance(broker_cert.public_key(), rsa.RSAPublicKey)  # an RSA key it signs
    async with world(files=ec_files, build={"firmware": "15.2.0"}) as w:
        set_user_rule(w.virtual)
        issuer = Issued(ec_store, w.device.topic, w.device.topic)
        record = await Enroller(w.transport, ca_options(w)).enrol(w.device, issuer, journal)

        assert record.step == EnrolmentStep.DONE
        assert w.virtual.tls_active
        assert mqtt_settings(w.virtual) == (BROKER_NAME, w.tls_port, 1)
        assert (w.virtual.settings.setoption132, w.virtual.settings.setoption165) == (0, 1)
        assert record.previous["ecdsa"] is False  # what the rollback rule would have restored
        assert rule_slot(w.virtual) == (USER_RULE, 1)


async def test_ec_ca_on_a_build_without_ecdsa_fails_with_its_reason_and_rolls_back(
    world: Any, ec_store: PkiStore, ec_files: BrokerFiles, journal: JournalLog
) -> None:
    async with world(files=ec_files, build={"firmware": "15.2.0", "tls_ecdsa": False}) as w:
        set_user_rule(w.virtual)
        before = mqtt_settings(w.virtual)
        issuer = Issued(ec_store, w.device.topic, w.device.topic)
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(w.transport, ca_options(w)).enrol(w.device, issuer, journal)

        assert caught.value.reason == "ecdsa_unsupported"
        assert journal.last.step == EnrolmentStep.FAILED
        assert journal.last.reason == "ecdsa_unsupported"
        assert w.virtual.connected and not w.virtual.tls_active
        assert mqtt_settings(w.virtual) == before == ("127.0.0.1", w.plain_port, 0)
        assert w.virtual.settings.setoption165 == 0  # restored by the device's own rule
        assert rule_slot(w.virtual) == (USER_RULE, 1)
        assert tls_errors(w.virtual) and set(tls_errors(w.virtual)) == {49}


async def test_an_rsa_ca_leaves_setoption165_alone(
    world: Any, make_issuer: Any, journal: JournalLog
) -> None:
    async with world(build={"firmware": "15.2.0"}) as w:
        record = await Enroller(w.transport, ca_options(w)).enrol(
            w.device, w.issuer(make_issuer), journal
        )
        assert record.step == EnrolmentStep.DONE and w.virtual.tls_active
        assert w.virtual.settings.setoption165 == 0
        assert "ecdsa" not in record.previous or record.previous["ecdsa"] is None


async def test_the_bearssl_client_takes_the_ec_ca_only_with_ecdsa(
    world: Any, ec_store: PkiStore, ec_files: BrokerFiles, tmp_path: Path
) -> None:
    """The Tasmota-like client, with the EC CA compiled in: 49 without --ecdsa, connected with."""
    ca = x509.load_pem_x509_certificate(ec_files.ca_pem)
    client = build_client_with_headers(*firmware_headers(ca), tmp_path)
    issued = ec_store.issue_device(
        PASSPHRASE, "bearssl", topic="bearssl", command_topic="cmnd/bearssl/TLSKey2"
    )
    key_file, cert_file = tmp_path / "tlskey1.bin", tmp_path / "tlskey2.bin"
    assert issued.payloads is not None
    key_file.write_bytes(base64.b64decode(issued.payloads.tlskey1))
    cert_file.write_bytes(base64.b64decode(issued.payloads.tlskey2))
    async with world(files=ec_files) as w:
        common: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": w.tls_port,
            "server_name": BROKER_NAME,
            "key_file": key_file,
            "cert_file": cert_file,
            "client_id": "bearssl",
        }
        without = await async_run_client(client, **common)
        with_ecdsa = await async_run_client(client, **common, ecdsa=True)
    assert (without.returncode, without.tls_error) == (EXIT_TLS, 49)
    assert with_ecdsa.connected
