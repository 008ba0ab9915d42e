"""Key generation and the CA key's encryption at rest."""

from __future__ import annotations

from typing import Literal, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import PkiError, WrongPassphraseError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyAlgorithm: TypeAlias = Literal["rsa", "ec"]


def generate_key(algo: KeyAlgorithm) -> PrivateKey:
    """RSA-2048 (every Tasmota build verifies it) or EC P-256."""
    if algo == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algo == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise PkiError(f"Unknown key algorithm {algo!r}; use 'rsa' or 'ec'.", code="invalid_algo")


def encrypt_key(key: PrivateKey, passphrase: str) -> bytes:
    """PKCS#8 PEM, PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC, as OpenSSL and Easy-RSA write it."""
    if not passphrase:
        raise PkiError("A passphrase is required to protect the key.", code="empty_passphrase")
    encryption = serialization.BestAvailableEncryption(passphrase.encode())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def decrypt_key(pem: bytes, passphrase: str, *, what: str = "CA key") -> PrivateKey:
    """Load an encrypted PEM key; a wrong passphrase gets WrongPassphraseError."""
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode() if passphrase else None)
    except (ValueError, TypeError):
        raise WrongPassphraseError(
            f"The passphrase does not unlock the {what}. Check it and try again."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"The {what} must be RSA or EC.", code="unsupported_key")
    return key


def plain_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, for files a broker reads (written 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
