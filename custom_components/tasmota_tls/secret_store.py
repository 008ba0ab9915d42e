"""The entry's secrets (unattended CA passphrase, devices' web password), kept private.

Home Assistant writes config entries to ``.storage/core.config_entries`` with mode
0644, readable by every local user and copied into every diagnostics dump and most
backups. These two secrets live instead in ``.storage/tasmota_tls_secrets/<store>.json``:
the folder 0700, the file 0600, written atomically.

That protects them from other local users and from tools that read the config entries.
It does not protect them from anyone who can read the whole configuration folder as
Home Assistant's user, or from an unencrypted backup of it: the CA key's encryption at
rest stops a copied ``ca.key`` alone, nothing more (README, Security).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_PASSPHRASE, CONF_WEB_PASSWORD
from .pki.fsutil import KEY_MODE, atomic_write

SECRETS_DIR = ".storage/tasmota_tls_secrets"
DIR_MODE = 0o700
KEYS = (CONF_PASSPHRASE, CONF_WEB_PASSWORD)


def secrets_path(hass: HomeAssistant, store_id: str) -> Path:
    """One file per CA store (the store ID is known before the entry exists)."""
    return Path(hass.config.path(SECRETS_DIR, f"{store_id}.json"))


def read_secrets(path: Path) -> dict[str, str]:
    """The saved secrets; none when the file does not exist."""
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return {key: str(data[key]) for key in KEYS if data.get(key)}


def write_secrets(path: Path, values: Mapping[str, str | None]) -> None:
    """Merge ``values`` into the file (None removes a secret): folder 0700, file 0600."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path.parent, DIR_MODE)  # also when the folder was made under another umask
    current = read_secrets(path)
    for key, value in values.items():
        if value:
            current[key] = value
        else:
            current.pop(key, None)
    atomic_write(path, json.dumps(current).encode(), KEY_MODE)


class SecretStore:
    """The secrets of one entry, read once at setup; writes go to disk in the executor."""

    def __init__(self, hass: HomeAssistant, store_id: str) -> None:
        """Bind to the entry's secrets file (nothing is read yet)."""
        self._hass = hass
        self.path = secrets_path(hass, store_id)
        self._values: dict[str, str] = {}

    async def async_load(self) -> None:
        """Read the file (in the executor)."""
        self._values = await self._hass.async_add_executor_job(read_secrets, self.path)

    async def async_update(self, **values: str | None) -> None:
        """Save new values (None removes one)."""
        await self._hass.async_add_executor_job(write_secrets, self.path, values)
        await self.async_load()

    @property
    def passphrase(self) -> str | None:
        """The CA passphrase (unattended custody only)."""
        return self._values.get(CONF_PASSPHRASE)

    @property
    def web_password(self) -> str | None:
        """The devices' web password, for the HTTP channel."""
        return self._values.get(CONF_WEB_PASSWORD)

    def __repr__(self) -> str:  # never show the values
        return f"SecretStore({self.path})"
