"""The firmware's trust-anchor headers, as BearSSL's `brssl ta` would print them.

The manual guide builds brssl, runs `brssl ta ca.crt` and splits the output with sed into
tasmota/include/local_ca_data.h (the blobs, PROGMEM-tagged) and local_ca_descriptor.h
(one br_x509_trust_anchor initializer). We write the same bytes without brssl.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import PkiError

BYTES_PER_LINE = 12

USER_CONFIG_OVERRIDE_SNIPPET = """\
// tasmota/user_config_override.h: MQTT over TLS with a client certificate per device.
// Copy local_ca_data.h and local_ca_descriptor.h to tasmota/include/ first.
#ifndef USE_MQTT_TLS
#define USE_MQTT_TLS                 // MQTT over TLS
#endif
#ifndef USE_MQTT_CLIENT_CERT
#define USE_MQTT_CLIENT_CERT         // TLSKey1/TLSKey2 client certificate, keeps MqttUser
#endif
#ifndef INCLUDE_LOCAL_CERT
#define INCLUDE_LOCAL_CERT           // compile in tasmota/include/local_ca_*.h (SetOption132 0)
#endif
#define OMIT_AWS_CERT                // not needed for a local broker
// #define OMIT_LETS_ENCRYPT_CERT    // uncomment if no device talks to a Let's Encrypt broker

#undef MQTT_PORT
#define MQTT_PORT 8883
#undef MQTT_TLS_ENABLED
#define MQTT_TLS_ENABLED true        // SetOption103 1 from the start
"""


def _blob(name: str, data: bytes) -> str:
    lines = []
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start : start + BYTES_PER_LINE]
        lines.append("\t" + ", ".join(f"0x{b:02X}" for b in chunk))
    return f"static const unsigned char {name}[] = {{\n" + ",\n".join(lines) + "\n};\n"


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def brssl_ta_text(cert: x509.Certificate) -> str:
    """Exactly what `brssl ta ca.crt` prints for a single CA certificate."""
    key = cert.public_key()
    parts = ["", _blob("TA0_DN", cert.subject.public_bytes())]
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        parts += [
            _blob("TA0_RSA_N", _unsigned(numbers.n)),
            _blob("TA0_RSA_E", _unsigned(numbers.e)),
        ]
        key_part = (
            "\t\t\tBR_KEYTYPE_RSA,\n"
            "\t\t\t{ .rsa = {\n"
            "\t\t\t\t(unsigned char *)TA0_RSA_N, sizeof TA0_RSA_N,\n"
            "\t\t\t\t(unsigned char *)TA0_RSA_E, sizeof TA0_RSA_E,\n"
            "\t\t\t} }\n"
        )
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        parts.append(_blob("TA0_EC_Q", point))
        key_part = (
            "\t\t\tBR_KEYTYPE_EC,\n"
            "\t\t\t{ .ec = {\n"
            "\t\t\t\tBR_EC_secp256r1,\n"
            "\t\t\t\t(unsigned char *)TA0_EC_Q, sizeof TA0_EC_Q,\n"
            "\t\t\t} }\n"
        )
    else:
        raise PkiError("The firmware trusts only RSA and P-256 CA keys.", code="unsupported_key")
    descriptor = (
        "static const br_x509_trust_anchor TAs[1] = {\n"
        "\t{\n"
        "\t\t{ (unsigned char *)TA0_DN, sizeof TA0_DN },\n"
        "\t\tBR_X509_TA_CA,\n"
        "\t\t{\n" + key_part + "\t\t}\n"
        "\t}\n"
        "};\n"
    )
    parts += [descriptor, "#define TAs_NUM   1\n"]
    return "\n".join(parts)


def firmware_headers(cert: x509.Certificate) -> tuple[str, str]:
    """(local_ca_data.h, local_ca_descriptor.h), byte-identical to the guide's sed split.

    data: `sed -e 's/TA0/PROGMEM TA0/' -e '/br_x509/,+999 d'`
    descriptor: `sed -e '1,/br_x509/ d' -e '/};/,+999 d'`
    """
    lines = brssl_ta_text(cert).splitlines(keepends=True)
    anchor = next(i for i, line in enumerate(lines) if "br_x509" in line)
    data = "".join(line.replace("TA0", "PROGMEM TA0", 1) for line in lines[:anchor])
    rest = lines[anchor + 1 :]
    end = next(i for i, line in enumerate(rest) if "};" in line)
    descriptor = "".join(rest[:end])
    return data, descriptor
