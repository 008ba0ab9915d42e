"""Where scripts/develop keeps its state: config/ (Home Assistant) and state/ (the rest).

Both folders are git-ignored. Ports and generated passwords are saved on the first start,
so a second start resumes with the same broker ports and the same logins.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Workspace:
    """The folders of one development instance."""

    config: Path  # Home Assistant's configuration folder
    state: Path  # broker, devices, logs, saved ports and passwords

    @classmethod
    def at(cls, root: Path = REPO_ROOT, config: Path | None = None, state: Path | None = None):
        return cls(
            config=(config or root / "config").resolve(), state=(state or root / "state").resolve()
        )

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def broker_dir(self) -> Path:
        return self.state / "mosquitto"

    @property
    def fleet_dir(self) -> Path:
        return self.state / "devices"

    @property
    def runtime_file(self) -> Path:
        """What a running instance publishes about itself (ports, URL, logins)."""
        return self.state / "develop.json"

    def create(self) -> None:
        for folder in (self.config, self.state, self.logs, self.broker_dir, self.fleet_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port(avoid: set[int]) -> int:
    """A free loopback port below the ephemeral range (outgoing connections never take it)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        if port not in avoid and port_is_free(port):
            return port
    raise RuntimeError("no free loopback port found")


class SavedSettings:
    """A small JSON file (0600) of ports and passwords that must survive restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.values, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def port(self, name: str, taken: set[int]) -> int:
        """The saved port of that name, or a new free one on the first start.

        Devices and config entries remember these ports, so a busy saved port is an
        error (most likely another instance is running), not a reason to move.
        """
        saved = self.values.get(name)
        if isinstance(saved, int):
            if saved in taken or not port_is_free(saved):
                raise RuntimeError(
                    f"Port {saved} ({name}, saved in {self.path}) is in use. Is another "
                    "scripts/develop running? Stop it, or delete state/ to start afresh."
                )
            return saved
        self.values[name] = pick_free_port(taken)
        return int(self.values[name])

    def secret(self, name: str) -> str:
        if not isinstance(self.values.get(name), str):
            self.values[name] = secrets.token_urlsafe(12)
        return str(self.values[name])
