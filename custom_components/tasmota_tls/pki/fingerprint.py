"""Tasmota's public-key fingerprint (MqttFingerprint1/2), firmware v8.4 and later.

SHA-1 over length-prefixed items, like an SSH key blob, but this is not OpenSSH's
fingerprint: "ssh-rsa", the RSA exponent, the modulus. Only RSA keys have one: the
firmware computes nothing usable for an EC key (all zeros on ESP8266, an unfinished hash
on ESP32), and fingerprint mode (SetOption132 1) offers RSA cipher suites only. So an
EC broker key is refused here rather than given a value no device would compute.
"""

from __future__ import annotations

import hashlib
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import PkiError

PublicKeySource: TypeAlias = x509.Certificate | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

EC_FINGERPRINT_MESSAGE = (
    "The broker key is EC. Tasmota's fingerprint mode (SetOption132 1) needs an RSA broker "
    "key: it offers RSA cipher suites only and computes no fingerprint for an EC key. Use an "
    "RSA broker key (what `tasmota-tls broker` issues) or CA mode (SetOption132 0)."
)
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
    elif isinstance(key, ec.EllipticCurvePublicKey):
        raise PkiError(EC_FINGERPRINT_MESSAGE, code="fingerprint_needs_rsa")
    else:
        raise PkiError("Tasmota fingerprints only RSA keys.", code="unsupported_key")
    return hashlib.sha1(blob, usedforsecurity=False).digest()


def has_fingerprint(source: PublicKeySource) -> bool:
    """Whether a device in fingerprint mode can pin this key (RSA only)."""
    key = source.public_key() if isinstance(source, x509.Certificate) else source
    return isinstance(key, rsa.RSAPublicKey)


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
