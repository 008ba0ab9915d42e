"""The suite-wide network guard allows loopback and refuses everything else."""

import socket

import pytest

from tests import conftest


def test_loopback_range_is_reachable() -> None:
    server = socket.socket()
    server.bind(("127.0.0.5", 0))
    server.listen(1)
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.5", port), timeout=2) as client:
        assert client.getpeername() == ("127.0.0.5", port)
    server.close()


def test_other_addresses_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even if the guard were broken, nothing leaves the machine: the real connect is stubbed.
    reached: list[object] = []
    monkeypatch.setattr(conftest, "_true_connect", lambda sock, *args: reached.append(args))
    with socket.socket() as sock, pytest.raises(conftest.NonLoopbackConnectError):
        sock.connect(("192.0.2.1", 1883))
    assert reached == []
