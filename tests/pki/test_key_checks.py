"""Key generation and custody refuse what the store must never hold."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from custom_components.tasmota_tls.pki import PkiError
from custom_components.tasmota_tls.pki.keys import decrypt_key, encrypt_key, generate_key


def test_an_unknown_algorithm_is_named() -> None:
    with pytest.raises(PkiError) as caught:
        generate_key("dsa")  # type: ignore[arg-type]
    assert caught.value.code == "invalid_algo"


def test_a_key_is_never_stored_without_a_passphrase() -> None:
    with pytest.raises(PkiError) as caught:
        encrypt_key(generate_key("ec"), "")
    assert caught.value.code == "empty_passphrase"


def test_a_key_of_another_type_is_refused_after_decryption() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"right"),
    )
    with pytest.raises(PkiError) as caught:
        decrypt_key(pem, "right")
    assert caught.value.code == "unsupported_key"
