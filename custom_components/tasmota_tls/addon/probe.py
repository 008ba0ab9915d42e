"""Checks against the running add-on: which certificate it presents, whether a login works.

Blocking socket I/O: call these in the executor. Both are read-only probes.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct

TIMEOUT = 10.0
# CONNACK return codes (MQTT 3.1.1): 0 accepted, 4 bad username or password, 5 not authorised.
ACCEPTED = 0


def presented_certificate_sha256(host: str, port: int, server_name: str) -> str:
    """SHA-256 of the certificate the TLS listener presents (hex, lowercase).

    No client certificate is sent and nothing is verified here: the caller compares the
    result with the certificate it installed, which is a stricter check than a chain.
    TLS 1.3 completes the client's side of the handshake before the broker checks (and,
    with require_certificate, refuses) the client, so the server's certificate is known.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with (
        socket.create_connection((host, port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the broker presented no certificate")
    return hashlib.sha256(der).hexdigest()


def _field(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def mqtt_login_code(host: str, port: int, username: str, password: str) -> int:
    """The CONNACK code a plain MQTT 3.1.1 CONNECT with this login gets (then disconnects).

    Used only for logins already removed from the add-on, to show that it refuses them.
    """
    variable = _field("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 10)  # user+pw+clean
    payload = _field("tasmota-tls-probe") + _field(username) + _field(password)
    body = variable + payload
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x10" + encoded + body)
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                # Mosquitto may close the socket instead of answering a refused login.
                return -1
            reply += chunk
        if reply[0] != 0x20:
            return -1
        if reply[3] == ACCEPTED:
            sock.sendall(b"\xe0\x00")  # DISCONNECT
        return reply[3]
