"""One connection attempt, as MqttReconnect() makes it: resolve, TCP or TLS, server checks, CONNECT.

Failures come out as MqttConnectError with PubSubClient's rc and, for TLS, the number
BearSSL's getLastError() would report, so that the device can log them as the firmware does.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .faults import DeviceFaults
from .firmware import AUTO_ECDSA_AFTER_ERROR, MQTT_MAX_PACKET_SIZE, FirmwareBuild
from .mqtt import (
    MQTT_CONNECT_FAILED,
    MessageHandler,
    MqttClient,
    MqttConnectError,
    Will,
)
from .settings import DeviceSettings
from .tls import (
    BR_ERR_BAD_PARAM,
    BR_ERR_X509_BAD_SERVER_NAME,
    FINGERPRINT_MISMATCH,
    TlsFailure,
    TlsProfile,
    bearssl_name_matches,
    build_context,
    chain_refusal,
    failure_code,
    firmware_fingerprint,
    format_fingerprint,
    key_refusal,
)

MQTT_DNS_DISCONNECTED = -5  # Tasmota's own state code: the host name did not resolve
ZERO_FINGERPRINT = "00" * 20


def loopback_ipv4(host: str) -> str | None:
    """The loopback IPv4 address for host, or None: the project never leaves 127.0.0.0/8."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            return None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
        if not addresses or not all(a.is_loopback for a in addresses):
            return None
        return str(sorted(addresses)[0])
    return str(address) if address.is_loopback and address.version == 4 else None


@dataclass
class Connector:
    """Everything one attempt reads: the flash, the build and the faults of this moment."""

    settings: DeviceSettings
    ip: str  # the device's own address: connections come from it
    build: FirmwareBuild
    mqtt_tls: bool  # SetOption103 as read at boot
    trust_anchors_pem: bytes | None
    faults: DeviceFaults
    timeout: float
    work_dir: Path  # where the client key may sit in a 0600 file for a moment
    log: Callable[[str], None]
    save: Callable[[], None]  # write the flash (a learned fingerprint)
    peer_fingerprint: str | None = None

    async def connect(self, will: Will, on_message: MessageHandler) -> MqttClient:
        """A connected client, subscribed to nothing yet; fingerprints learned are saved."""
        s = self.settings
        address = loopback_ipv4(s.mqtt_host)
        if address is None:
            raise MqttConnectError(
                MQTT_DNS_DISCONNECTED, f"{s.mqtt_host} is not a loopback address (refused here)"
            )
        # MqttReconnect(): user and password are sent whenever set, so an untouched device sends
        # the defaults DVES_USER / DVES_PASS (USE_MQTT_CLIENT_CERT keeps them with a client key).
        username, password = s.mqtt_user or None, s.mqtt_password or None
        if username is None:
            password = None  # PubSubClient sends a password only after a user name
        if self.mqtt_tls and self.build.aws_iot and s.tlskey1 and s.tlskey2:
            username = password = None  # USE_MQTT_AWS_IOT drops them when a client key is loaded
        client = MqttClient(
            client_id=s.mqtt_client_id,
            keepalive=s.mqtt_keepalive,
            will=will,
            username=username,
            password=password,
            on_message=on_message,
            on_oversize=lambda size: self.log(
                f"MQT: Dropped a {size} byte packet "
                f"(over MQTT_MAX_PACKET_SIZE {MQTT_MAX_PACKET_SIZE})"
            ),
        )
        learned: bytes | None = None
        if self.mqtt_tls:
            started = time.monotonic()
            learned = await self._open_tls(client, address)
            elapsed = int((time.monotonic() - started) * 1000)
            self.log(f"MQT: TLS connected in {elapsed} ms ({client.cipher})")
        else:
            try:
                await client.open(address, s.mqtt_port, local_address=self.ip, timeout=self.timeout)
            except OSError as err:
                raise MqttConnectError(MQTT_CONNECT_FAILED, str(err)) from err
        try:
            await client.handshake(self.timeout)
        except MqttConnectError as err:
            err.tls_error = 0  # TLS worked; the broker said no
            raise
        if learned is not None:
            self._learn_fingerprint(learned)
        return client

    async def _open_tls(self, client: MqttClient, address: str) -> bytes | None:
        """TLS handshake and the firmware's server checks; returns a fingerprint to learn."""
        s = self.settings
        use_fingerprint = bool(s.setoption132) and not self.faults.reject_tls
        # SetOption165 1 adds the ECDSA suite and chain verifier, on USE_MQTT_TLS_ECDSA builds
        # only; fingerprint mode stays on the RSA suite whatever SetOption165 says.
        ecdsa = self.build.ecdsa and bool(s.setoption165)
        profile = TlsProfile(
            ecdsa_suite=ecdsa and not use_fingerprint,
            use_fingerprint=use_fingerprint,
            trust_anchors_pem=None if self.faults.reject_tls else self.trust_anchors_pem,
        )
        try:
            key_pem, cert_pem = self._client_credentials()
            ctx = build_context(profile, key_pem, cert_pem, self.work_dir)
            await client.open(
                address,
                s.mqtt_port,
                ssl_context=ctx,
                server_hostname=s.mqtt_host,
                local_address=self.ip,
                timeout=self.timeout,
            )
            ssl_object = client.ssl_object
            peer = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if peer is None or ssl_object is None:
                raise TlsFailure(BR_ERR_BAD_PARAM, "no server certificate")
            refusal = key_refusal(peer, self.build.chip)
            if refusal is not None:
                raise refusal
            if use_fingerprint:
                return self._check_fingerprint(peer)
            chain = list(ssl_object.get_verified_chain())  # DER, leaf first, anchor last
            refusal = chain_refusal(chain, ecdsa_verifier=ecdsa, device_time=self.device_time())
            if refusal is not None:
                raise refusal
            if not bearssl_name_matches(peer, s.mqtt_host):
                raise TlsFailure(
                    BR_ERR_X509_BAD_SERVER_NAME, f"certificate does not name {s.mqtt_host}"
                )
            return None
        except TlsFailure as err:
            await client.abort()
            raise MqttConnectError(MQTT_CONNECT_FAILED, err.reason, err.code) from err
        except (OSError, MqttConnectError) as err:
            await client.abort()
            code = err.tls_error if isinstance(err, MqttConnectError) else failure_code(err)
            if code == AUTO_ECDSA_AFTER_ERROR:
                self._enable_ecdsa_after_handshake_failure()
            reason = str(err) or type(err).__name__
            raise MqttConnectError(MQTT_CONNECT_FAILED, reason, code) from err

    def device_time(self) -> int:
        """max(UtcTime(), CfgTime()), as _connectSSL() hands it to br_x509_minimal_set_time()."""
        utc = 0 if self.faults.no_time else int(time.time())
        return max(utc, self.settings.cfg_timestamp)

    def _enable_ecdsa_after_handshake_failure(self) -> None:
        """Error 296 (the server wants a suite we did not offer) turns SetOption165 on, saved;
        the next attempt offers ECDSA. Only builds that have it (my_user_config.h)."""
        s = self.settings
        if self.build.ecdsa and not s.setoption165:
            s.setoption165 = 1
            self.log("MQT: TLS handshake failure 296: SetOption165 1 (ECDSA) for the next attempt")
            self.save()

    def _client_credentials(self) -> tuple[bytes | None, bytes | None]:
        """PEM of the stored scalar and DER; nothing unless both TLSKey1 and TLSKey2 are there."""
        s = self.settings
        if s.tlskey1 is None or s.tlskey2 is None:
            return None, None
        try:
            key = ec.derive_private_key(int.from_bytes(s.tlskey1, "big"), ec.SECP256R1())
        except ValueError as err:
            raise TlsFailure(BR_ERR_BAD_PARAM, "TLSKey1 is not a valid P-256 scalar") from err
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key_pem, pem_certificate(s.tlskey2)

    def _check_fingerprint(self, peer_der: bytes) -> bytes | None:
        """pubkeyfingerprint_end_chain: match a slot, or accept when a slot learns or is all FF."""
        s = self.settings
        received = firmware_fingerprint(peer_der)
        fp1, fp2 = bytes.fromhex(s.fingerprint1), bytes.fromhex(s.fingerprint2)
        self.peer_fingerprint = format_fingerprint(received)
        self.log(f"MQT: Server fingerprint: {self.peer_fingerprint}")
        learn1, learn2 = fp1 == bytes(20), fp2 == bytes(20)
        allow_all = learn1 or learn2 or fp1 == b"\xff" * 20 or fp2 == b"\xff" * 20
        if not allow_all and received not in (fp1, fp2):
            raise TlsFailure(
                FINGERPRINT_MISMATCH, "server fingerprint matches neither MqttFingerprint1 nor 2"
            )
        return received if learn1 or learn2 else None

    def _learn_fingerprint(self, received: bytes) -> None:
        """After a successful connection, as MqttReconnect() does: fill the learning slots."""
        s = self.settings
        learned = False
        if s.fingerprint1 == ZERO_FINGERPRINT and received != bytes.fromhex(s.fingerprint2):
            s.fingerprint1 = received.hex().upper()
            learned = True
        if s.fingerprint2 == ZERO_FINGERPRINT and received != bytes.fromhex(s.fingerprint1):
            s.fingerprint2 = received.hex().upper()
            learned = True
        if learned:
            self.log(f"MQT: Fingerprint learned: {format_fingerprint(received)}")
            self.save()


def pem_certificate(der: bytes) -> bytes:
    text = base64.b64encode(der)
    lines = b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"-----END CERTIFICATE-----\n"
