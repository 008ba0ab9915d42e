"""Build and run the Tasmota-like BearSSL MQTT client (tests/tasmota_client/).

The client is compiled against Debian's libbearssl with the two firmware headers
``local_ca_data.h`` and ``local_ca_descriptor.h`` as its only trust anchors, included
the way Tasmota's tasmota_ca.ino includes them. Exit codes and output lines are
described in tests/tasmota_client/README.md.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NotRequired, TypedDict, Unpack

CLIENT_SOURCE = Path(__file__).resolve().parent.parent / "tasmota_client" / "tasmota_client.c"
HEADER_NAMES = ("local_ca_data.h", "local_ca_descriptor.h")

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_TLS = 2
EXIT_REFUSED = 3
EXIT_CLOSED = 4

_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


class ClientBuildError(RuntimeError):
    """gcc refused the client with the given headers (message holds gcc's output)."""


@dataclass(frozen=True)
class ClientResult:
    returncode: int
    stdout: str
    stderr: str
    connack: int | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)
    subacks: list[int] = field(default_factory=list)
    server_fingerprint: str | None = None  # "AA BB ..." seen in fingerprint mode
    tls_error: int | None = None  # br_ssl_engine_last_error on handshake failure

    @property
    def connected(self) -> bool:
        return self.returncode == EXIT_OK and self.connack == 0


def build_client(include_dir: Path, out: Path) -> Path:
    """Compile the client with the firmware headers found in ``include_dir``.

    ``include_dir`` holds local_ca_data.h and local_ca_descriptor.h (the files a user
    copies to tasmota/include/). They are staged as ``<out>.fw/include/`` so the source
    can include them as ``<include/local_ca_data.h>``, exactly as the firmware does.
    Returns ``out`` (the executable). Raises ClientBuildError with gcc's messages.
    """
    out = Path(out)
    staging = out.with_name(out.name + ".fw")
    (staging / "include").mkdir(parents=True, exist_ok=True)
    for name in HEADER_NAMES:
        shutil.copyfile(Path(include_dir) / name, staging / "include" / name)
    command = [
        "gcc",
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-O2",
        "-I",
        str(staging),
        "-o",
        str(out),
        str(CLIENT_SOURCE),
        "-lbearssl",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ClientBuildError(done.stderr or done.stdout)
    return out


def build_client_with_headers(data_h: str, descriptor_h: str, workdir: Path) -> Path:
    """Write the two header texts into ``workdir`` and build the client there."""
    include_dir = Path(workdir) / "include"
    include_dir.mkdir(parents=True, exist_ok=True)
    (include_dir / HEADER_NAMES[0]).write_text(data_h)
    (include_dir / HEADER_NAMES[1]).write_text(descriptor_h)
    return build_client(include_dir, Path(workdir) / "tasmota_client")


class ClientOptions(TypedDict):
    """Keyword options of run_client / async_run_client / client_command."""

    host: str
    port: int
    server_name: str  # checked against the broker certificate in CA mode (MqttHost)
    key_file: Path  # the raw 32-byte P-256 scalar (decoded TLSKey1)
    cert_file: Path  # the DER certificate (decoded TLSKey2)
    client_id: str
    fingerprint: NotRequired[str | None]  # "AA BB ..." => fingerprint mode, else CA mode
    username: NotRequired[str | None]
    password: NotRequired[str | None]
    subscribe: NotRequired[Iterable[str]]
    publish: NotRequired[Iterable[tuple[str, str]]]  # (topic, payload), QoS 0
    wait_ms: NotRequired[int]  # keep reading PUBLISH packets this long after the last step
    timeout_ms: NotRequired[int]  # bound on connect, handshake and every packet
    ecdsa: NotRequired[bool]  # SetOption165 1 on a USE_MQTT_TLS_ECDSA build (CA mode)


def client_command(binary: Path, **options: Unpack[ClientOptions]) -> list[str]:
    """The argv for one client run (see run_client)."""
    host = options["host"]
    port = options["port"]
    server_name = options["server_name"]
    key_file = options["key_file"]
    cert_file = options["cert_file"]
    client_id = options["client_id"]
    fingerprint = options.get("fingerprint")
    username = options.get("username")
    password = options.get("password")
    subscribe = options.get("subscribe", ())
    publish = options.get("publish", ())
    wait_ms = options.get("wait_ms", 0)
    timeout_ms = options.get("timeout_ms", 5000)
    argv = [
        str(binary),
        "--host",
        host,
        "--port",
        str(port),
        "--server-name",
        server_name,
        "--key",
        str(key_file),
        "--cert",
        str(cert_file),
        "--client-id",
        client_id,
        "--wait-ms",
        str(wait_ms),
        "--timeout-ms",
        str(timeout_ms),
    ]
    for option, value in (("--fingerprint", fingerprint), ("--username", username)):
        if value is not None:
            argv += [option, value]
    if password is not None:
        argv += ["--password", password]
    if options.get("ecdsa", False):
        argv.append("--ecdsa")
    for topic in subscribe:
        argv += ["--subscribe", topic]
    for topic, payload in publish:
        argv += ["--publish", topic, payload]
    return argv


def parse_output(returncode: int, stdout: str, stderr: str) -> ClientResult:
    connack: int | None = None
    messages: list[tuple[str, str]] = []
    subacks: list[int] = []
    fingerprint: str | None = None
    for line in stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "CONNACK":
            connack = int(rest)
        elif kind == "SUBACK":
            subacks.append(int(rest))
        elif kind == "MESSAGE":
            topic, _, payload = rest.partition(" ")
            messages.append((topic, _unescape(payload)))
        elif kind == "SERVER_FINGERPRINT":
            fingerprint = rest
    tls = re.search(r"TLS error (\d+)", stderr)
    return ClientResult(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        connack=connack,
        messages=messages,
        subacks=subacks,
        server_fingerprint=fingerprint,
        tls_error=int(tls.group(1)) if tls and returncode == EXIT_TLS else None,
    )


def _unescape(payload: str) -> str:
    raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), payload)
    return raw.encode("latin-1").decode("utf-8", errors="replace")


def _process_timeout(argv: Sequence[str]) -> float:
    wait = int(argv[argv.index("--wait-ms") + 1])
    timeout = int(argv[argv.index("--timeout-ms") + 1])
    return (wait + 3 * timeout) / 1000 + 5  # a safety net; the client bounds itself


def run_client(binary: Path, **options: Unpack[ClientOptions]) -> ClientResult:
    """Run the client once (blocking) and parse what it printed. Options: ClientOptions."""
    argv = client_command(binary, **options)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=_process_timeout(argv), check=False
    )
    return parse_output(done.returncode, done.stdout, done.stderr)


async def async_run_client(binary: Path, **options: Unpack[ClientOptions]) -> ClientResult:
    """run_client without blocking the event loop (same options)."""
    argv = client_command(binary, **options)
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), _process_timeout(argv))
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return parse_output(process.returncode, out.decode(), err.decode())
