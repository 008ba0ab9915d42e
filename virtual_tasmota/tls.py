"""The device's TLS client, kept to what Tasmota's BearSSL client can do.

TLS 1.2 only, one cipher suite on ESP8266 (ECDHE-RSA-AES128-GCM-SHA256), curve P-256,
a client key that is a bare P-256 scalar. The broker is checked either against the
trust anchors compiled into the firmware (CA mode, with BearSSL's name rules) or by
the firmware's public-key fingerprint (SetOption132 1). Failures are reported with
the number BearSSL's getLastError() would give, because that is what the device logs.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

RSA_SUITE = "ECDHE-RSA-AES128-GCM-SHA256"
ECDSA_SUITE = "ECDHE-ECDSA-AES128-GCM-SHA256"

# BearSSL / WiFiClientSecure_light error numbers (getLastError)
BR_ERR_BAD_PARAM = 1
BR_ERR_IO = 31
BR_ERR_X509_UNSUPPORTED = 49
BR_ERR_X509_LIMIT_EXCEEDED = 50
BR_ERR_X509_EXPIRED = 54
BR_ERR_X509_BAD_SERVER_NAME = 56
BR_ERR_X509_NOT_TRUSTED = 62
BR_ERR_RECV_FATAL_ALERT = 256
ERR_TCP_CONNECT = -1002
FINGERPRINT_MISMATCH = 1  # pubkeyfingerprint_end_chain returns 1, which becomes the error

_ALERTS = {
    "UNEXPECTED_MESSAGE": 10,
    "BAD_RECORD_MAC": 20,
    "RECORD_OVERFLOW": 22,
    "HANDSHAKE_FAILURE": 40,
    "BAD_CERTIFICATE": 42,
    "UNSUPPORTED_CERTIFICATE": 43,
    "CERTIFICATE_REVOKED": 44,
    "CERTIFICATE_EXPIRED": 45,
    "CERTIFICATE_UNKNOWN": 46,
    "ILLEGAL_PARAMETER": 47,
    "UNKNOWN_CA": 48,
    "ACCESS_DENIED": 49,
    "DECODE_ERROR": 50,
    "DECRYPT_ERROR": 51,
    "PROTOCOL_VERSION": 70,
    "INSUFFICIENT_SECURITY": 71,
    "INTERNAL_ERROR": 80,
    "USER_CANCELLED": 90,
    "NO_RENEGOTIATION": 100,
    "UNSUPPORTED_EXTENSION": 110,
}


_ECDSA_SIGNATURES = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.ECDSA_WITH_SHA224,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
}


class TlsFailure(Exception):
    """A TLS failure with the number the firmware would log."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def firmware_fingerprint(cert_der: bytes, chip: str = "esp8266") -> bytes:
    """Tasmota's public-key fingerprint (v8.4+) of a server certificate, 20 bytes.

    SHA-1 over length-prefixed items: "ssh-rsa", exponent, modulus (unsigned,
    no leading zero). ESP32 also fingerprints P-256 keys ("ecdsa-sha2-nistp256",
    the 65-byte point); any other key gives twenty zero bytes.
    """
    key = x509.load_der_x509_certificate(cert_der).public_key()
    digest = hashlib.sha1()  # noqa: S324 - the firmware's algorithm, not a security choice

    def item(data: bytes) -> None:
        digest.update(len(data).to_bytes(4, "big") + data)

    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        item(b"ssh-rsa")
        item(_unsigned(numbers.e))
        item(_unsigned(numbers.n))
        return digest.digest()
    if chip == "esp32" and isinstance(key, ec.EllipticCurvePublicKey):
        item(b"ecdsa-sha2-nistp256")
        item(
            key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        return digest.digest()
    return bytes(20)


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def format_fingerprint(raw: bytes) -> str:
    """ "AA BB CC ..." as Tasmota prints fingerprints."""
    return " ".join(f"{b:02X}" for b in raw)


def esp8266_refusal(cert_der: bytes, *, ca_mode: bool) -> TlsFailure | None:
    """What an ESP8266 build cannot take from a server certificate.

    RSA keys over 2048 bits exceed BR_MAX_RSA_SIZE (unless built with USE_4K_RSA; a real
    device may crash rather than fail cleanly), and in CA mode the chain is checked with
    RSA only (no ECDSA verifier on ESP8266), so an ECDSA-signed certificate cannot be verified.
    """
    cert = x509.load_der_x509_certificate(cert_der)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size > 2048:
        return TlsFailure(
            BR_ERR_X509_LIMIT_EXCEEDED, f"RSA-{key.key_size} key: ESP8266 takes 2048 bits"
        )
    if ca_mode and cert.signature_algorithm_oid in _ECDSA_SIGNATURES:
        return TlsFailure(
            BR_ERR_X509_UNSUPPORTED, "ECDSA-signed certificate: ESP8266 verifies RSA only"
        )
    return None


def bearssl_name_matches(cert_der: bytes, server_name: str) -> bool:
    """BearSSL's server name check (bearssl_x509.h): the dNSName entries of the SAN; the
    subject CN only when the certificate has no SAN extension at all.

    iPAddress entries are ignored: an address given as MqttHost must appear as text in a
    dNSName entry. Case-insensitive; a leading "*." matches one label.
    """
    cert = x509.load_der_x509_certificate(cert_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name) for name in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = [
            str(attr.value)
            for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
    wanted = server_name.lower().rstrip(".")
    for name in names:
        pattern = name.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False


@dataclass(frozen=True)
class TlsProfile:
    """What the firmware build and settings allow at this connection."""

    chip: str  # "esp8266" | "esp32"
    ecdsa_suite: bool  # SetOption165 on ESP32
    use_fingerprint: bool  # SetOption132
    trust_anchors_pem: bytes | None  # compiled-in CAs; None = none the broker uses


def build_context(
    profile: TlsProfile, key_pem: bytes | None, cert_pem: bytes | None, work_dir: Path
) -> ssl.SSLContext:
    """An SSLContext limited to the firmware's protocol, suites and curve."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    suites = RSA_SUITE
    if profile.chip == "esp32" and profile.ecdsa_suite:
        suites += ":" + ECDSA_SUITE
    ctx.set_ciphers(suites)
    ctx.set_ecdh_curve("prime256v1")
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    # Names are checked after the handshake with BearSSL's rules, not OpenSSL's.
    ctx.check_hostname = False
    if profile.use_fingerprint:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.verify_mode = ssl.CERT_REQUIRED
        if profile.trust_anchors_pem:
            ctx.load_verify_locations(cadata=profile.trust_anchors_pem.decode())
    if key_pem is not None and cert_pem is not None:
        _load_client_credentials(ctx, key_pem, cert_pem, work_dir)
    return ctx


def _load_client_credentials(
    ctx: ssl.SSLContext, key_pem: bytes, cert_pem: bytes, work_dir: Path
) -> None:
    """load_cert_chain reads files: write them 0600 in the device's directory, then remove."""
    work_dir.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    try:
        for data in (cert_pem, key_pem):
            fd, name = tempfile.mkstemp(dir=work_dir, prefix=".tls-", suffix=".pem")
            paths.append(name)
            with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file 0600
                handle.write(data)
        ctx.load_cert_chain(paths[0], paths[1])
    finally:
        for name in paths:
            Path(name).unlink(missing_ok=True)


def failure_code(err: BaseException) -> int:
    """Map an exception from the handshake to BearSSL's getLastError() number."""
    if isinstance(err, ssl.SSLCertVerificationError):
        if err.verify_code in (9, 10):  # not yet valid, expired
            return BR_ERR_X509_EXPIRED
        return BR_ERR_X509_NOT_TRUSTED
    if isinstance(err, ssl.SSLError):
        reason = (err.reason or "").upper()
        for name, number in _ALERTS.items():
            if reason.endswith("ALERT_" + name):
                return BR_ERR_RECV_FATAL_ALERT + number
        if "NO_CIPHER" in reason or "NO_SHARED_CIPHER" in reason:
            return BR_ERR_RECV_FATAL_ALERT + _ALERTS["HANDSHAKE_FAILURE"]
        if "VERSION" in reason or "PROTOCOL" in reason:
            return BR_ERR_RECV_FATAL_ALERT + _ALERTS["PROTOCOL_VERSION"]
        return BR_ERR_IO
    if isinstance(err, ConnectionRefusedError):
        return ERR_TCP_CONNECT
    return BR_ERR_IO
