"""Every certificate the core issues verifies with OpenSSL and carries exactly its profile."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from custom_components.tasmota_tls.pki import PkiStore
from custom_components.tasmota_tls.pki.fingerprint import fingerprint_bytes, tasmota_fingerprint

from .support import PASSPHRASE, openssl_verify


def days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / dt.timedelta(days=1)


def test_ca_defaults(store: PkiStore) -> None:
    ca = store.ca_certificate()
    key = ca.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert ca.subject == ca.issuer
    assert [a.oid for a in ca.subject] == [NameOID.COMMON_NAME]
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert round(days(ca)) == 3650


def test_ec_ca_is_an_explicit_option(ec_store: PkiStore) -> None:
    key = ec_store.ca_certificate().public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_org_style_names_on_request(tmp_path: Path) -> None:
    store = PkiStore(tmp_path / "org")
    org = {
        "country": "UK",
        "province": "London",
        "city": "London",
        "org": "myorg",
        "ou": "MQTT",
        "email": "info@myorg.com",
    }
    ca = store.init_ca(PASSPHRASE, "myca", dn_mode="org", org=org)
    oids = [a.oid for a in ca.subject]
    assert oids == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
        NameOID.EMAIL_ADDRESS,
    ]


def test_device_certificate_is_the_guides_reduced_profile(store: PkiStore, tmp_path: Path) -> None:
    credential = store.issue_device(PASSPHRASE, "tasmota_1A2B3C")
    cert = credential.certificate
    openssl_verify(tmp_path, store.ca_certificate(), cert, "sslclient")
    assert isinstance(credential.key, ec.EllipticCurvePrivateKey)
    assert credential.key.curve.name == "secp256r1"
    assert cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tasmota_1A2B3C")])
    extensions = {ext.oid: ext for ext in cert.extensions}
    assert set(extensions) == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
    }
    basic = extensions[ExtensionOID.BASIC_CONSTRAINTS]
    assert basic.critical and basic.value == x509.BasicConstraints(ca=False, path_length=None)
    aki = extensions[ExtensionOID.AUTHORITY_KEY_IDENTIFIER].value
    ca_ski = store.ca_certificate().extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.value.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    usage = extensions[ExtensionOID.KEY_USAGE]
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_encipherment or usage.value.key_cert_sign or usage.value.crl_sign)
    ski = extensions[ExtensionOID.SUBJECT_KEY_IDENTIFIER].value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(credential.key.public_key())
    assert round(days(cert)) == 365
    assert cert.serial_number.bit_length() > 64  # 128-bit random, not a counter


@pytest.mark.parametrize(
    ("host", "san_type", "value"),
    [
        ("mqtt.home.lan", x509.DNSName, "mqtt.home.lan"),
        ("127.0.0.1", x509.IPAddress, ipaddress.ip_address("127.0.0.1")),
        ("::1", x509.IPAddress, ipaddress.ip_address("::1")),
    ],
)
def test_broker_certificate(
    store: PkiStore, tmp_path: Path, host: str, san_type: type, value: object
) -> None:
    credential = store.issue_broker(PASSPHRASE, host, extra_names=["localhost"])
    cert = credential.certificate
    openssl_verify(tmp_path, store.ca_certificate(), cert, "sslserver")
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == host
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    general_names = list(san)
    assert general_names[0] == san_type(value)  # the MqttHost first, as DNS or IP
    if san_type is x509.IPAddress:  # BearSSL matches the server name on dNSName entries only
        assert general_names[1] == x509.DNSName(str(value))
    assert general_names[-1] == x509.DNSName("localhost")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert round(days(cert)) == 825
    assert store.broker_certificate() == cert


def test_ha_client_certificate(store: PkiStore, tmp_path: Path) -> None:
    credential = store.issue_ha_client(PASSPHRASE)
    openssl_verify(tmp_path, store.ca_certificate(), credential.certificate, "sslclient")
    eku = credential.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert credential.entry.cn == "homeassistant" and credential.entry.kind == "ha_client"


def test_validity_is_configurable(store: PkiStore) -> None:
    assert round(days(store.issue_device(PASSPHRASE, "short", days=30).certificate)) == 30
    assert round(days(store.issue_broker(PASSPHRASE, "b.lan", days=90).certificate)) == 90


def test_fingerprint_follows_the_firmware_algorithm(store: PkiStore) -> None:
    import hashlib

    cert = store.issue_broker(PASSPHRASE, "127.0.0.1").certificate
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    numbers = public_key.public_numbers()

    def item(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    blob = item(b"ssh-rsa") + item(b"\x01\x00\x01") + item(n)
    assert n[0] != 0  # no leading zero byte, unlike an SSH mpint
    assert fingerprint_bytes(cert) == hashlib.sha1(blob).digest()
    text = tasmota_fingerprint(cert)
    assert len(text.split(" ")) == 20 and text == text.upper()
