"""Tasmota's public-key fingerprint (MqttFingerprint1/2), firmware v8.4 and later.

SHA-1 over length-prefixed items, like an SSH key blob, but this is not OpenSSH's
fingerprint: RSA hashes "ssh-rsa", e, n; EC hashes "ecdsa-sha2-nistp256" and the point.
"""

from __future__ import annotations

import hashlib
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import PkiError

PublicKeySource: TypeAlias = x509.Certificate | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

ALL_ZERO = " ".join(["00"] * 20)  # learn the first key seen
ALL_FF = " ".join(["FF"] * 20)  # accept any key


def _item(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def fingerprint_bytes(source: PublicKeySource) -> bytes:
    """The raw 20-byte fingerprint of a certificate's (or a key's) public key."""
    key = source.public_key() if isinstance(source, x509.Certificate) else source
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        blob = _item(b"ssh-rsa") + _item(_unsigned(numbers.e)) + _item(_unsigned(numbers.n))
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        blob = _item(b"ecdsa-sha2-nistp256") + _item(point)
    else:
        raise PkiError("Tasmota fingerprints only RSA and P-256 keys.", code="unsupported_key")
    return hashlib.sha1(blob, usedforsecurity=False).digest()


def format_fingerprint(raw: bytes) -> str:
    """20 bytes as MqttFingerprint1 wants them: uppercase hex pairs separated by spaces."""
    return " ".join(f"{b:02X}" for b in raw)


def parse_fingerprint(text: str) -> bytes:
    """Accept 'AA BB ..', 'AA:BB:..' or 40 hex digits."""
    digits = "".join(ch for ch in text if ch not in " :")
    try:
        raw = bytes.fromhex(digits)
    except ValueError as err:
        raise PkiError(
            f"{text!r} is not a fingerprint of hex bytes.", code="invalid_fingerprint"
        ) from err
    if len(raw) != 20:
        raise PkiError("A Tasmota fingerprint has exactly 20 bytes.", code="invalid_fingerprint")
    return raw


def tasmota_fingerprint(source: PublicKeySource) -> str:
    """The MqttFingerprint1 value for a broker certificate or key."""
    return format_fingerprint(fingerprint_bytes(source))
