"""Suite-wide rules: every test may use sockets, but only towards loopback.

Home Assistant's test plugin blocks sockets except 127.0.0.1. Our virtual devices
live on 127.0.0.N and our brokers on free loopback ports, so we widen the guard to
the whole loopback range and nothing else: a test that aims at any other address
fails loudly instead of sending traffic off the machine.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
import pytest_socket


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


_true_connect = pytest_socket._true_connect
_true_connect_ex = socket.socket.connect_ex


def _loopback_connect(sock: socket.socket, *args: object) -> object:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(args[0]):
        raise NonLoopbackConnectError(f"tests may only connect to loopback, not {args[0]!r}")
    return _true_connect(sock, *args)


def _loopback_connect_ex(sock: socket.socket, *args: object) -> object:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(args[0]):
        raise NonLoopbackConnectError(f"tests may only connect to loopback, not {args[0]!r}")
    return _true_connect_ex(sock, *args)


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Replace the plugins' socket guards with a loopback-only one."""
    pytest_socket._remove_restrictions()
    socket.socket.connect = _loopback_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _loopback_connect_ex  # type: ignore[method-assign,assignment]
