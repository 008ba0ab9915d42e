"""TLSKey1/TLSKey2 payloads and the guard that keeps them within the device's limits."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import PkiError, SizeLimitError
from .limits import (
    MAX_COMMAND_CHARS,
    MAX_MQTT_PACKET_BYTES,
    TLSKEY1_BYTES,
    TLSKEY2_MAX_DER,
    TLSKEY2_MIN_DER,
    mqtt_publish_packet_size,
)

_SHRINK_HINT = (
    "Use CN-only names (the default) and a shorter device name; an EC CA gives a smaller "
    "certificate still (devices in CA mode then need SetOption165 1 on a USE_MQTT_TLS_ECDSA "
    "build, the default since Tasmota 15.1)."
)


def private_scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The raw P-256 private scalar: always exactly 32 bytes, leading zeros kept."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise PkiError("A Tasmota device key must be EC P-256.", code="unsupported_key")
    return key.private_numbers().private_value.to_bytes(TLSKEY1_BYTES, "big")


def key_from_scalar(raw: bytes) -> ec.EllipticCurvePrivateKey:
    """Rebuild the device key from the stored TLSKey1 bytes."""
    if len(raw) != TLSKEY1_BYTES:
        raise PkiError(
            f"TLSKey1 must be exactly {TLSKEY1_BYTES} bytes, not {len(raw)}.", code="invalid_key"
        )
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError as err:
        raise PkiError("TLSKey1 is not a valid P-256 private key.", code="invalid_key") from err


@dataclass(frozen=True)
class TlsKeyPayloads:
    """The two TLSKey payloads for one device, with the figures the guard checked."""

    tlskey1: str
    tlskey2: str
    der_bytes: int
    command_chars: int
    packet_bytes: int

    def commands(self) -> tuple[str, str]:
        """The two lines to paste into the device's web console."""
        return f"TLSKey1 {self.tlskey1}", f"TLSKey2 {self.tlskey2}"

    def __repr__(self) -> str:  # the key payload must never reach a log
        return f"TlsKeyPayloads(der_bytes={self.der_bytes}, command_chars={self.command_chars})"


def check_certificate_size(cert_der: bytes, command_topic: str) -> tuple[int, int]:
    """Refuse a certificate the device cannot take; return (command chars, packet bytes).

    command_topic is where TLSKey2 would be published, e.g. cmnd/tasmota_1A2B3C/TLSKey2.
    """
    der_bytes = len(cert_der)
    if der_bytes < TLSKEY2_MIN_DER:
        raise SizeLimitError(
            f"The certificate is {der_bytes} bytes; Tasmota refuses 256 bytes or fewer. "
            "Use an RSA CA or longer names.",
            code="certificate_too_small",
        )
    if der_bytes > TLSKEY2_MAX_DER:
        raise SizeLimitError(
            f"The certificate is {der_bytes} bytes of DER; the device's TLSKey slot holds at "
            f"most {TLSKEY2_MAX_DER}. {_SHRINK_HINT}",
            code="certificate_too_large",
        )
    b64_chars = len(base64.b64encode(cert_der))
    command_chars = len("TLSKey2 ") + b64_chars
    if command_chars >= MAX_COMMAND_CHARS:
        raise SizeLimitError(
            f"The TLSKey2 command is {command_chars} characters; the device refuses "
            f"{MAX_COMMAND_CHARS} or more. {_SHRINK_HINT}",
            code="command_too_long",
        )
    packet_bytes = mqtt_publish_packet_size(command_topic, b64_chars)
    if packet_bytes > MAX_MQTT_PACKET_BYTES:
        raise SizeLimitError(
            f"The TLSKey2 message on {command_topic} is {packet_bytes} bytes; the device drops "
            f"MQTT packets over {MAX_MQTT_PACKET_BYTES} silently. Shorten the device topic or "
            f"its full topic. {_SHRINK_HINT}",
            code="packet_too_large",
        )
    return command_chars, packet_bytes


def payloads_for(
    key: ec.EllipticCurvePrivateKey, cert_der: bytes, command_topic: str
) -> TlsKeyPayloads:
    """Both payloads, after the size guard."""
    return payloads_for_scalar(private_scalar(key), cert_der, command_topic)


def payloads_for_scalar(scalar: bytes, cert_der: bytes, command_topic: str) -> TlsKeyPayloads:
    """Both payloads from the key's 32-byte scalar, after the size guard."""
    command_chars, packet_bytes = check_certificate_size(cert_der, command_topic)
    return TlsKeyPayloads(
        tlskey1=base64.b64encode(scalar).decode(),
        tlskey2=base64.b64encode(cert_der).decode(),
        der_bytes=len(cert_der),
        command_chars=command_chars,
        packet_bytes=packet_bytes,
    )
