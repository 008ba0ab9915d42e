"""TLSKey payloads: the 32-byte scalar with its leading zeros, and the size guard."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from custom_components.tasmota_tls.pki import SizeLimitError, key_from_scalar, private_scalar
from custom_components.tasmota_tls.pki.limits import (
    MAX_COMMAND_CHARS,
    MAX_MQTT_PACKET_BYTES,
    TLSKEY2_MAX_DER,
    mqtt_publish_packet_size,
)
from custom_components.tasmota_tls.pki.tlskey import check_certificate_size, payloads_for


@pytest.mark.parametrize("scalar", [0x00FF << 232, 1 << 200, 0x0000AB << 224, 12345])
def test_scalar_keeps_leading_zeros(scalar: int) -> None:
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    raw = private_scalar(key)
    assert len(raw) == 32 and raw[0] == 0
    assert int.from_bytes(raw, "big") == scalar
    assert key_from_scalar(raw).private_numbers().private_value == scalar


def test_payloads_decode_to_scalar_and_der() -> None:
    key = ec.derive_private_key(7 << 240, ec.SECP256R1())  # first byte 0x07, then a zero run
    der = bytes(600)
    payloads = payloads_for(key, der, "cmnd/tasmota_1A2B3C/TLSKey2")
    assert base64.b64decode(payloads.tlskey1) == private_scalar(key)
    assert base64.b64decode(payloads.tlskey2) == der
    assert payloads.commands()[0].startswith("TLSKey1 ")
    assert payloads.command_chars == len(payloads.commands()[1])
    assert payloads.tlskey1 not in repr(payloads)


def test_key_from_scalar_refuses_other_lengths() -> None:
    with pytest.raises(Exception, match="exactly 32 bytes"):
        key_from_scalar(bytes(31))


def test_slot_size_comes_from_the_firmware_layout() -> None:
    assert TLSKEY2_MAX_DER == 1024 - 32 - 32


@pytest.mark.parametrize(
    ("der_len", "topic", "code", "hint"),
    [
        (256, "cmnd/t/TLSKey2", "certificate_too_small", "256 bytes or fewer"),
        (TLSKEY2_MAX_DER + 1, "cmnd/t/TLSKey2", "certificate_too_large", "CN-only"),
        (900, "cmnd/t/TLSKey2", "command_too_long", "CN-only"),
        (860, "cmnd/" + "x" * 60 + "/TLSKey2", "packet_too_large", "Shorten the device topic"),
    ],
)
def test_size_guard_names_the_fix(der_len: int, topic: str, code: str, hint: str) -> None:
    with pytest.raises(SizeLimitError) as caught:
        check_certificate_size(bytes(der_len), topic)
    assert caught.value.code == code
    assert hint in str(caught.value)


def test_size_guard_boundaries() -> None:
    # 891 bytes is the largest DER whose command stays under 1200 characters.
    chars, _ = check_certificate_size(bytes(891), "a")
    assert chars == MAX_COMMAND_CHARS - 1 - 3
    with pytest.raises(SizeLimitError):
        check_certificate_size(bytes(894), "a")
    # The packet limit is inclusive: exactly 1200 bytes is still delivered.
    der = bytes(600)
    b64_len = len(base64.b64encode(der))
    topic = "t" * (MAX_MQTT_PACKET_BYTES - b64_len - 5)
    assert mqtt_publish_packet_size(topic, b64_len) == MAX_MQTT_PACKET_BYTES
    check_certificate_size(der, topic)
    with pytest.raises(SizeLimitError):
        check_certificate_size(der, topic + "x")


def test_packet_size_counts_the_varint_length() -> None:
    assert mqtt_publish_packet_size("a/b", 10) == 1 + 1 + 2 + 3 + 10
    assert mqtt_publish_packet_size("a/b", 200) == 1 + 2 + 2 + 3 + 200
