"""The firmware's small rules one by one: server names, fingerprint text, rules, strtol."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from virtual_tasmota.cmnd_mqtt import parse_fingerprint
from virtual_tasmota.command_base import split_command, strtol
from virtual_tasmota.mqtt import publish_packet_size
from virtual_tasmota.rules import parse_rule_set, trigger_matches
from virtual_tasmota.tls import bearssl_name_matches


def cert(cn: str, san: list[x509.GeneralName] | None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


IP = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("cn", "san", "host", "matches"),
    [
        ("127.0.0.1", [IP], "127.0.0.1", False),  # iPAddress entries do not count, nor the CN
        ("127.0.0.1", [IP, x509.DNSName("127.0.0.1")], "127.0.0.1", True),
        ("broker.lan", None, "BROKER.lan", True),  # no SAN at all: the CN
        ("127.0.0.1", [x509.DNSName("broker.lan")], "127.0.0.1", False),
        ("x", [x509.DNSName("*.example.org")], "mqtt.example.org", True),
        ("x", [x509.DNSName("*.example.org")], "a.b.example.org", False),
    ],
)
def test_bearssl_server_name_rules(
    cn: str, san: list[x509.GeneralName] | None, host: str, matches: bool
) -> None:
    assert bearssl_name_matches(cert(cn, san), host) is matches


def test_fingerprint_text_is_read_like_strtol() -> None:
    assert parse_fingerprint("AA BB " + "01 " * 18) == "AABB" + "01" * 18
    assert parse_fingerprint("AA:BB:CC") == "AA" + "00" * 19  # ':' stops strtol for good
    assert parse_fingerprint("") == "00" * 20


def test_strtol_and_command_split() -> None:
    assert (strtol("6"), strtol("0x10"), strtol("010"), strtol("on"), strtol(" -3x")) == (
        6,
        16,
        8,
        None,
        -3,
    )
    assert split_command("  Status 6") == ("Status", " 6")
    assert split_command("cmnd/tasmota_1/Power1 on") == ("Power1", " on")


def test_rule_parsing_and_triggers() -> None:
    blocks = parse_rule_set(
        "on System#Init do RuleTimer1 300 endon ON Rules#Timer=1 DO Backlog A 1; B 2 BREAK on bad"
    )
    assert [(b.trigger, b.commands, b.is_break) for b in blocks] == [
        ("SYSTEM#INIT", "RuleTimer1 300", False),
        ("RULES#TIMER=1", "Backlog A 1; B 2", True),
    ]
    assert trigger_matches("RULES#TIMER=1", "Rules#Timer", "1")
    assert not trigger_matches("RULES#TIMER=1", "Rules#Timer", "2")
    assert trigger_matches("MQTT#CONNECTED", "Mqtt#Connected", "1")
    assert trigger_matches("RULES#TIMER>=2", "Rules#Timer", "3")
    assert not trigger_matches("SYSTEM#BOOT", "System#Init", "1")


def test_publish_packet_size_agrees_with_the_pki_core() -> None:
    from custom_components.tasmota_tls.pki.limits import mqtt_publish_packet_size

    for topic, length in [("cmnd/tasmota_ABCDEF/TLSKey2", 1168), ("a", 100), ("t" * 200, 20000)]:
        assert publish_packet_size(topic, length) == mqtt_publish_packet_size(topic, length)
    assert publish_packet_size("cmnd/tasmota_ABCDEF/TLSKey2", 1168) == 1200
