"""mqtt_login_code reads the broker's answer: accepted, refused, closed, or not MQTT at all.

A one-connection loopback server stands in for the broker and records what it received.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from custom_components.tasmota_tls.addon.probe import mqtt_login_code


@contextmanager
def one_shot_server(reply: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that reads the CONNECT, sends ``reply``, then collects the rest."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            received.append(conn.recv(4096))
            if not reply:
                return  # closed without an answer, as Mosquitto may do on a refused login
            conn.sendall(reply)
            rest = b""
            try:
                while chunk := conn.recv(4096):
                    rest += chunk
            except ConnectionResetError:
                pass  # the probe closed first
            received.append(rest)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        thread.join(5)
        listener.close()


def test_an_accepted_login_is_answered_zero_and_disconnected() -> None:
    with one_shot_server(b"\x20\x02\x00\x00") as (port, received):
        assert mqtt_login_code("127.0.0.1", port, "tasmota-1", "pw") == 0
    connect, rest = received
    assert connect[0] == 0x10  # CONNECT
    username = b"tasmota-1"
    assert struct.pack("!H", len(username)) + username in connect
    assert rest == b"\xe0\x00"  # DISCONNECT after an accepted login


def test_a_refused_login_returns_the_connack_code_without_disconnect() -> None:
    with one_shot_server(b"\x20\x02\x00\x05") as (port, received):
        assert mqtt_login_code("127.0.0.1", port, "revoked", "pw") == 5
    assert received[1] == b""


def test_a_closed_socket_or_a_non_mqtt_answer_is_minus_one() -> None:
    with one_shot_server(b"") as (port, _):
        assert mqtt_login_code("127.0.0.1", port, "revoked", "pw") == -1
    with one_shot_server(b"HTTP") as (port, _):
        assert mqtt_login_code("127.0.0.1", port, "revoked", "pw") == -1


def test_a_long_password_gets_a_multi_byte_remaining_length() -> None:
    password = "p" * 200  # the packet is over 127 bytes
    with one_shot_server(b"\x20\x02\x00\x04") as (port, received):
        assert mqtt_login_code("127.0.0.1", port, "user", password) == 4
    connect = received[0]
    length = (connect[1] & 0x7F) + 128 * connect[2]
    assert connect[1] & 0x80 and length == len(connect) - 3
