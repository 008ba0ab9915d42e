"""Trust-anchor headers are byte-identical to `brssl ta` split the guide's way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from custom_components.tasmota_tls.pki.store import PkiStore
from custom_components.tasmota_tls.pki.trust_anchor import (
    USER_CONFIG_OVERRIDE_SNIPPET,
    brssl_ta_text,
    firmware_headers,
)

VECTORS = Path(__file__).parent / "vectors" / "brssl-ta"
NAMES = ["rsa-cn-only", "rsa-org-easyrsa", "ec-p256-utf8"]
# The guide's sed lines, run for real on brssl's own output.
SED_DATA = ["sed", "-e", "s/TA0/PROGMEM TA0/", "-e", "/br_x509/,+999 d"]
SED_DESCRIPTOR = ["sed", "-e", "1,/br_x509/ d", "-e", "/};/,+999 d"]


def _sed(command: list[str], text: str) -> str:
    return subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", NAMES)
def test_brssl_output_is_reproduced_exactly(name: str) -> None:
    cert = x509.load_pem_x509_certificate((VECTORS / f"{name}.crt").read_bytes())
    assert brssl_ta_text(cert) == (VECTORS / f"{name}.brssl-ta.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_headers_match_the_guides_sed_split(name: str) -> None:
    reference = (VECTORS / f"{name}.brssl-ta.txt").read_text()
    cert = x509.load_pem_x509_certificate((VECTORS / f"{name}.crt").read_bytes())
    data, descriptor = firmware_headers(cert)
    assert data == _sed(SED_DATA, reference)
    assert descriptor == _sed(SED_DESCRIPTOR, reference)
    assert "static const unsigned char PROGMEM TA0_DN[] = {" in data
    assert descriptor.startswith("\t{\n") and descriptor.endswith("\t}\n")


def test_headers_for_our_own_cas(store: PkiStore, ec_store: PkiStore) -> None:
    rsa_data, rsa_descriptor = firmware_headers(store.ca_certificate())
    ec_data, ec_descriptor = firmware_headers(ec_store.ca_certificate())
    assert "PROGMEM TA0_RSA_N" in rsa_data and "BR_KEYTYPE_RSA" in rsa_descriptor
    assert "PROGMEM TA0_EC_Q" in ec_data and "BR_EC_secp256r1" in ec_descriptor


def test_user_config_snippet_uses_current_macro_names() -> None:
    for macro in ("USE_MQTT_TLS", "USE_MQTT_CLIENT_CERT", "INCLUDE_LOCAL_CERT"):
        assert f"#define {macro}" in USER_CONFIG_OVERRIDE_SNIPPET
    # Obsolete names that current firmware ignores must not appear as defines.
    for obsolete in (
        "INCLUDE_LOCAL_CA_CERT",
        "USE_MQTT_TLS_CA_CERT",
        "USE_MQTT_TLS_FORCE_EC_CIPHER",
    ):
        assert f"#define {obsolete}" not in USER_CONFIG_OVERRIDE_SNIPPET
