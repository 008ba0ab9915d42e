"""The device's TLS client, kept to what Tasmota's BearSSL client can do.

TLS 1.2 only, curve P-256, ECDHE-RSA-AES128-GCM-SHA256 always and ECDHE-ECDSA-AES128-GCM-SHA256
only with SetOption165 1 on a USE_MQTT_TLS_ECDSA build (ESP8266 and ESP32 alike, default since
v15.1), a client key that is a bare P-256 scalar. The broker is checked either against the
trust anchors compiled into the firmware (CA mode, with BearSSL's name and date rules; an
ECDSA-signed certificate needs the ECDSA verifier, which SetOption165 1 adds) or by the
firmware's public-key fingerprint (SetOption132 1, RSA suites only). Failures are reported with
the number BearSSL's getLastError() would give, because that is what the device logs. The
values and their sources are in firmware.py.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from .firmware import (
    BR_ERR_BAD_PARAM,
    BR_ERR_IO,
    BR_ERR_RECV_FATAL_ALERT,
    BR_ERR_X509_BAD_SERVER_NAME,
    BR_ERR_X509_EXPIRED,
    BR_ERR_X509_LIMIT_EXCEEDED,
    BR_ERR_X509_NOT_TRUSTED,
    BR_ERR_X509_UNSUPPORTED,
    ECDSA_SUITE,
    ERR_TCP_CONNECT,
    ESP8266_MAX_RSA_BITS,
    FINGERPRINT_MISMATCH,
    RSA_SUITE,
    TLS_CURVE,
)

__all__ = [
    "BR_ERR_BAD_PARAM",
    "BR_ERR_X509_BAD_SERVER_NAME",
    "ECDSA_SUITE",
    "FINGERPRINT_MISMATCH",
    "RSA_SUITE",
]

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


def firmware_fingerprint(cert_der: bytes) -> bytes:
    """Tasmota's public-key fingerprint (v8.4+) of a server certificate, 20 bytes.

    pubkeyfingerprint_pubkey_fingerprint() in WiFiClientSecureLightBearSSL.cpp: SHA-1 over
    length-prefixed items "ssh-rsa", exponent, modulus (unsigned, no leading zero). Any other
    key gives no usable value: ESP8266 sets twenty zero bytes, and the ESP32 branch for P-256
    keys never calls br_sha1_out(), so the buffer keeps its zeros there too.
    """
    key = x509.load_der_x509_certificate(cert_der).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return bytes(20)
    digest = hashlib.sha1()  # noqa: S324 - the firmware's algorithm, not a security choice
    numbers = key.public_numbers()
    for data in (b"ssh-rsa", _unsigned(numbers.e), _unsigned(numbers.n)):
        digest.update(len(data).to_bytes(4, "big") + data)
    return digest.digest()


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def format_fingerprint(raw: bytes) -> str:
    """ "AA BB CC ..." as Tasmota prints fingerprints."""
    return " ".join(f"{b:02X}" for b in raw)


def key_refusal(cert_der: bytes, chip: str) -> TlsFailure | None:
    """An RSA server key over BR_MAX_RSA_SIZE fails on ESP8266 in either mode (50; a real
    device may crash instead)."""
    key = x509.load_der_x509_certificate(cert_der).public_key()
    bits = key.key_size if isinstance(key, rsa.RSAPublicKey) else 0
    if chip == "esp8266" and bits > ESP8266_MAX_RSA_BITS:
        return TlsFailure(
            BR_ERR_X509_LIMIT_EXCEEDED, f"RSA-{bits} key: ESP8266 takes {ESP8266_MAX_RSA_BITS} bits"
        )
    return None


def chain_refusal(
    chain_der: list[bytes], *, ecdsa_verifier: bool, device_time: int
) -> TlsFailure | None:
    """What br_x509_minimal refuses in CA mode, in the order it meets it (leaf first).

    Dates are checked against the device's clock (54 when outside, e.g. a device in 1970);
    a certificate signed with ECDSA fails without br_x509_minimal_set_ecdsa() (49: unsupported),
    which only SetOption165 1 on a USE_MQTT_TLS_ECDSA build installs. chain_der is the server's
    chain followed by the trust anchor that closed it.
    """
    when = datetime.datetime.fromtimestamp(device_time, datetime.UTC)
    for der in chain_der:
        cert = x509.load_der_x509_certificate(der)
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return TlsFailure(
                BR_ERR_X509_EXPIRED, f"certificate not valid at device time {when:%Y-%m-%d}"
            )
    for der in chain_der[:-1]:  # the trust anchor's own signature is never checked
        cert = x509.load_der_x509_certificate(der)
        if cert.signature_algorithm_oid in _ECDSA_SIGNATURES and not ecdsa_verifier:
            return TlsFailure(
                BR_ERR_X509_UNSUPPORTED,
                "ECDSA-signed certificate: no ECDSA verifier (SetOption165 0 or a build "
                "without USE_MQTT_TLS_ECDSA)",
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

    ecdsa_suite: bool  # SetOption165 1 on a USE_MQTT_TLS_ECDSA build, CA mode only
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
    if profile.ecdsa_suite:
        suites += ":" + ECDSA_SUITE
    ctx.set_ciphers(suites)
    ctx.set_ecdh_curve(TLS_CURVE)
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
