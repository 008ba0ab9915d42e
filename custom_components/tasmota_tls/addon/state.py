"""The add-on's side of an entry: whether it was configured, and each device's login.

Kept next to the entry's other secrets, in ``.storage/tasmota_tls_secrets/`` (folder 0700)
as ``<store>.addon.json`` (0600, written atomically): the passwords never go into the
config entry (0644), diagnostics or events. The Supervisor stores the same passwords in
the add-on's options, which any user or tool with Supervisor access can read: the file
here protects them from other local users, not from an administrator of Home Assistant.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from ..pki.fsutil import KEY_MODE, atomic_write
from ..secret_store import DIR_MODE, secrets_path

PASSWORD_BYTES = 24  # 32 URL-safe characters: no space, ';' or quote for Tasmota's Backlog


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


@dataclass
class AddonState:
    applied: bool = False
    folder: str = ""
    logins: dict[str, str] = field(default_factory=dict, repr=False)  # CN -> password
    # Revoked devices' logins until the add-on is seen refusing them (then forgotten).
    revoked: dict[str, str] = field(default_factory=dict, repr=False)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "applied": self.applied,
                "folder": self.folder,
                "logins": self.logins,
                "revoked": self.revoked,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: Any) -> AddonState:
        if not isinstance(data, dict):
            raise ValueError("the add-on state file does not hold a JSON object")

        def names(key: str) -> dict[str, str]:
            value = data.get(key)
            return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

        return cls(bool(data.get("applied")), str(data.get("folder") or ""), names("logins"),
                   names("revoked"))  # fmt: skip

    def __repr__(self) -> str:  # never the passwords
        return f"AddonState(applied={self.applied}, devices={sorted(self.logins)})"


def state_path(hass: HomeAssistant, store_id: str) -> Path:
    base = secrets_path(hass, store_id)
    return base.with_name(base.stem + ".addon.json")


def read_state(path: Path) -> AddonState:
    try:
        return AddonState.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return AddonState()


def write_state(path: Path, state: AddonState) -> None:
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path.parent, DIR_MODE)
    atomic_write(path, state.to_json(), KEY_MODE)
