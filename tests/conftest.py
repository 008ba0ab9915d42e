"""Suite-wide rules: every test may use sockets, but only towards loopback.

Home Assistant's test plugin blocks sockets except 127.0.0.1 through pytest-socket.
Our virtual devices live on 127.0.0.N and our brokers on free loopback ports, so we
route pytest-socket's entry points to one guard that allows the whole loopback range
and nothing else: a test or fixture that aims at any other address fails loudly
instead of sending traffic off the machine.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest_socket

pytest_plugins = ["tests.helpers.mosquitto", "tests.helpers.deprecations"]


class NonLoopbackConnectError(RuntimeError):
    """A test tried to reach an address outside 127.0.0.0/8 and ::1."""


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # unix sockets and the like
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_true_socket = pytest_socket._true_socket
_true_connect = pytest_socket._true_connect
_true_connect_ex = socket.socket.connect_ex


def _check(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NonLoopbackConnectError(f"tests may only connect to loopback, not {address!r}")


def _loopback_connect(sock: socket.socket, *args: Any) -> Any:
    _check(sock, args[0])
    return _true_connect(sock, *args)


def _loopback_connect_ex(sock: socket.socket, *args: Any) -> Any:
    _check(sock, args[0])
    return _true_connect_ex(sock, *args)


def install_loopback_guard(*_args: Any, **_kwargs: Any) -> None:
    """Sockets on, connections to loopback only."""
    socket.socket = _true_socket  # type: ignore[misc]
    socket.socket.connect = _loopback_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _loopback_connect_ex  # type: ignore[method-assign,assignment]


# Home Assistant's plugin and pytest-socket call these before every test's fixtures run.
pytest_socket.disable_socket = install_loopback_guard
pytest_socket.socket_allow_hosts = install_loopback_guard
