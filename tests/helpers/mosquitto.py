"""A real Mosquitto broker on free loopback ports, for tests.

The configuration is a template: every ``{port}``, ``{tls_port}`` or other ``{<name>_port}``
placeholder gets its own free loopback port (read them back from ``broker.ports``), and
``{dir}`` becomes the broker's working directory. Everything else in the text is passed
through unchanged, so braces elsewhere need no escaping. The helper prepends what tests
rely on: ``user root`` (the broker can read key files whatever their owner) and full
logging to stderr, which goes to ``<dir>/mosquitto.log``::

    config = '''
    listener {tls_port} 127.0.0.1
    cafile /path/ca.crt
    certfile /path/broker.crt
    keyfile /path/broker.key
    require_certificate true
    use_identity_as_username true
    '''
    with MosquittoBroker(config, tmp_path) as broker:
        port = broker.ports["tls_port"]
        broker.wait_for_log(connected_line(client="dev1", user="dev1"))

Mosquitto log lines worth asserting on (after a ``<epoch seconds>: `` prefix). Debian 12
ships 2.0, Debian testing 2.1, which writes some of them differently; assert through
``connected_line`` and ``disconnected_line``, which accept both:
- ``New connection from 127.0.0.1:PORT on port LISTENER.``
- ``New client connected from 127.0.0.1:PORT as CLIENT_ID (p2, c1, k30, u'USERNAME').``
  (c1 = clean session, k = keepalive; the protocol is p2 for MQTT 3.1.1 in 2.0 and p4
  in 2.1; with use_identity_as_username the username is the client certificate's CN)
- 2.0: ``Client <unknown> disconnected: Protocol error.``, 2.1: ``Client 127.0.0.1
  [127.0.0.1:PORT] disconnected: Protocol error.`` (TLS handshake refused;
  ``tls_refused_line``)
- 2.0: ``Client CLIENT_ID disconnected.`` / ``Client CLIENT_ID closed its connection.``;
  2.1: ``Client CLIENT_ID [127.0.0.1:PORT] disconnected.`` /
  ``Client CLIENT_ID [127.0.0.1:PORT] disconnected: connection closed by client.``
- ``Reloading config.`` after SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"
LOOPBACK = "127.0.0.1"
_PLACEHOLDER = re.compile(r"\{(port|\w+_port|dir)\}")
_PROLOGUE = """\
user root
log_dest stderr
log_type all
connection_messages true
"""


def connected_line(
    client: str = r"\S+",
    user: str | None = None,
    address: str = r"\S+",
    *,
    anonymous: bool = False,
) -> str:
    """Regex of a 'New client connected' line; ``client``, ``user``, ``address`` are regexes.

    Without ``user``, a line with or without a username matches; ``anonymous`` matches
    only a client that sent no username.
    """
    if anonymous:
        username = ""
    elif user is not None:
        username = rf", u'{user}'"
    else:
        username = r"(?:, u'[^']*')?"
    return rf"New client connected from {address} as {client} \(p\d, c\d, k\d+{username}\)"


def disconnected_line(client: str) -> str:
    """Regex of the line Mosquitto 2.0 or 2.1 logs when ``client`` (a regex) goes away."""
    return rf"Client {client} (?:\[\S+\] )?(?:disconnected|closed its connection)"


def tls_refused_line() -> str:
    """Regex of the line Mosquitto 2.0 or 2.1 logs when a TLS handshake is refused."""
    return r"Client \S+ (?:\[\S+\] )?disconnected: Protocol error"


def _tcp_ports(listening_only: bool = False) -> set[int]:
    """Local TCP ports from /proc (no socket needed, so it works under any socket guard)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if not listening_only or fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


_handed_out: set[int] = set()


# A plaintext listener for unenrolled devices and Home Assistant, and a certificate-only
# TLS listener (``% {"dir": folder}`` with ca.crt, broker.crt and broker.key in it).
PLAIN_LISTENER = """
allow_anonymous true
listener {port} 127.0.0.1
"""
TLS_LISTENER = """
listener {tls_port} 127.0.0.1
cafile %(dir)s/ca.crt
certfile %(dir)s/broker.crt
keyfile %(dir)s/broker.key
require_certificate true
use_identity_as_username true
"""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing uses right now, below the kernel's ephemeral range.

    Picked from /proc rather than by binding port 0: an ephemeral port could be taken
    by an outgoing connection before the broker binds it. ``host`` must be loopback.
    """
    if not host.startswith("127."):
        raise ValueError("tests listen on loopback only")
    used = _tcp_ports() | _handed_out
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        if port not in used:
            _handed_out.add(port)
            return port
    raise BrokerError("no free port found")


class BrokerError(RuntimeError):
    """The broker did not start, stop or log what was expected in time."""


class MosquittoBroker:
    """One mosquitto process; usable as a context manager (start on enter, stop on exit)."""

    def __init__(
        self,
        config_template: str,
        directory: Path,
        *,
        host: str = LOOPBACK,
        start_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._started_once = False
        self._template = config_template
        self.write_config(config_template)

    # ----- configuration -----

    def write_config(self, config_template: str) -> None:
        """Fill the template (ports stay the same across rewrites) and write it out.

        Takes effect at the next start, restart or reload.
        """

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "dir":
                return str(self.directory)
            if name not in self.ports:
                self.ports[name] = free_port(self.host)
            return str(self.ports[name])

        self._template = config_template
        self.config_path.write_text(_PROLOGUE + _PLACEHOLDER.sub(fill, config_template))

    @property
    def port(self) -> int:
        """The port of ``{port}`` or, when there is no such placeholder, ``{tls_port}``."""
        return self.ports.get("port") or self.ports["tls_port"]

    # ----- process lifecycle -----

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> MosquittoBroker:
        """Start the broker and wait until it runs and every listener port is open."""
        if self.running:
            raise BrokerError("broker already running")
        for attempt in range(3):
            mark = self.log_mark()
            self._launch()
            try:
                self._wait_until_listening(mark)
                return self
            except BrokerError:
                self.stop()
                lost_race = "Address already in use" in self.log_text()[mark:]
                if not lost_race or attempt == 2 or self._started_once:
                    raise
                self.ports.clear()  # someone took a port meanwhile: pick new ones
                self.write_config(self._template)
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )

    def _wait_until_listening(self, mark: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            running = self.find_log(r"mosquitto version \S+ running", since=mark)
            missing = set(self.ports.values()) - _tcp_ports(listening_only=True)
            if running and not missing:
                self._started_once = True
                return
            if not self.running:
                raise BrokerError(f"mosquitto exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"mosquitto not listening on {sorted(missing)}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate (then kill if needed) and reap the process. Safe to call twice."""
        process, self._process = self._process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def restart(self) -> MosquittoBroker:
        """Stop and start again on the same ports, with the current config file."""
        self.stop()
        return self.start()

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP: re-read the config (e.g. a new crlfile); wait until the broker logs it."""
        mark = self.log_mark()
        self._signal_hup()
        self.wait_for_log(r"Reloading config\.", timeout, since=mark)

    async def async_reload(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        mark = self.log_mark()
        self._signal_hup()
        await self.async_wait_for_log(r"Reloading config\.", timeout, since=mark)

    def _signal_hup(self) -> None:
        if self._process is None or not self.running:
            raise BrokerError("broker not running")
        self._process.send_signal(signal.SIGHUP)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- log -----

    def log_text(self) -> str:
        """Everything the broker logged so far (across restarts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """Current end of the log; pass as ``since`` to only look at what comes next."""
        return len(self.log_text())

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def find_log(self, pattern: str, since: int = 0) -> re.Match[str] | None:
        return re.search(pattern, self.log_text()[since:], re.MULTILINE)

    def wait_for_log(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        """Wait until a line matching ``pattern`` (re.MULTILINE) appears after ``since``."""
        deadline = time.monotonic() + timeout
        while (match := self.find_log(pattern, since)) is None:
            if time.monotonic() > deadline:
                raise BrokerError(f"no log line matching {pattern!r}:\n{self.log_tail()}")
            time.sleep(0.02)
        return match

    async def async_wait_for_log(
        self,
        pattern: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - bounds a polling loop
        since: int = 0,
    ) -> re.Match[str]:
        """Same as wait_for_log, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while (match := self.find_log(pattern, since)) is None:
            if time.monotonic() > deadline:
                raise BrokerError(f"no log line matching {pattern!r}:\n{self.log_tail()}")
            await asyncio.sleep(0.02)
        return match

    def connected_usernames(self, since: int = 0) -> list[tuple[str, str]]:
        """(client id, username) of each 'New client connected' line after ``since``."""
        return re.findall(
            connected_line(client=r"(\S+)", user="([^']*)"),
            self.log_text()[since:],
        )


BrokerFactory = Callable[..., MosquittoBroker]


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    """``make(config_template, start=True) -> MosquittoBroker``; all are stopped at teardown.

    Use it from a test module or conftest with
    ``from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401``.
    """
    brokers: list[MosquittoBroker] = []

    def make(config_template: str, *, start: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(config_template, tmp_path / f"mosquitto{len(brokers)}")
        brokers.append(broker)
        return broker.start() if start else broker

    yield make
    for broker in brokers:
        with contextlib.suppress(Exception):
            broker.stop()
