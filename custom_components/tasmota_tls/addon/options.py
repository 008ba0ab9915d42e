"""What the integration changes in the add-on's options, worked out before anything is applied.

Pure functions over the options dict the Supervisor returns: nothing here talks to the
Supervisor or the file system, so the confirmation step shows exactly what applying sets.
Every option the user had stays as it was unless it is one of ours:
``certfile``/``keyfile``/``cafile``/``require_certificate``, ``customize`` (turned on,
with its folder kept) and the logins named after our devices' certificates.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Files in /ssl, named so they never replace the user's fullchain.pem / privkey.pem.
SSL_CERT = "tasmota-tls-broker.pem"  # the broker certificate followed by our CA (its chain)
SSL_KEY = "tasmota-tls-broker.key"
SSL_CA = "tasmota-tls-ca.pem"
DEFAULT_FOLDER = "mosquitto"  # the add-on's default customize folder
# The add-on's listeners; require_certificate holds for both TLS ones (its template).
TLS_PORTS = (8883, 8884)
PLAIN_PORTS = (1883, 1884)
TLS_OPTIONS = ("certfile", "keyfile", "cafile", "require_certificate")


class LoginConflictError(ValueError):
    """A login of the user's has the name of one of our devices: it is never replaced."""

    def __init__(self, username: str) -> None:
        super().__init__(f"the add-on already has a login named {username}")
        self.username = username


@dataclass(frozen=True)
class Change:
    """One option that applying changes; values are shown, passwords never."""

    option: str
    before: str
    after: str

    def line(self) -> str:
        if not self.before:
            return f"- `{self.option}`: {self.after}"
        return f"- `{self.option}`: {self.before} → {self.after}"


def with_tls(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with our certificate, key and CA and a client certificate required."""
    new = copy.deepcopy(dict(options))
    new.update(certfile=SSL_CERT, keyfile=SSL_KEY, cafile=SSL_CA, require_certificate=True)
    return new


def customize_folder(options: Mapping[str, Any]) -> str:
    """The folder under /share the add-on includes (its default when unset)."""
    customize = options.get("customize")
    folder = customize.get("folder") if isinstance(customize, Mapping) else None
    return folder if isinstance(folder, str) and folder.strip("/ ") else DEFAULT_FOLDER


def with_customize(options: Mapping[str, Any]) -> dict[str, Any]:
    """Customize on, keeping the folder the user chose (only with consent: see the flow)."""
    new = copy.deepcopy(dict(options))
    new["customize"] = {"active": True, "folder": customize_folder(options)}
    return new


def logins(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = options.get("logins")
    return (
        [dict(item) for item in value if isinstance(item, Mapping)]
        if isinstance(value, list)
        else []
    )


def other_usernames(options: Mapping[str, Any], ours: Iterable[str]) -> list[str]:
    """The user's own logins: not ours, in their order."""
    mine = set(ours)
    names = [str(item.get("username", "")) for item in logins(options)]
    return [name for name in dict.fromkeys(names) if name and name not in mine]


def with_logins(
    options: Mapping[str, Any], wanted: Mapping[str, str], ours: Iterable[str]
) -> dict[str, Any]:
    """Our logins set to ``wanted`` (username -> password); every other login kept as it was.

    ``ours`` names every login the integration ever created, so one no longer wanted (a
    revoked device) is removed. A login of the user's with one of our names is refused
    rather than replaced.
    """
    mine = set(ours) | set(wanted)
    kept: list[dict[str, Any]] = []
    for item in logins(options):
        name = str(item.get("username", ""))
        if name in mine:
            if name not in set(ours):
                raise LoginConflictError(name)
            continue
        kept.append(item)
    kept += [{"username": name, "password": wanted[name]} for name in sorted(wanted)]
    new = copy.deepcopy(dict(options))
    new["logins"] = kept
    return new


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """Every option that differs; logins by username only (never a password)."""
    found: list[Change] = []
    for key in sorted({*before, *after}):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "logins":
            old_names = {str(i.get("username")) for i in logins(before)}
            new_names = {str(i.get("username")) for i in logins(after)}
            added, removed = sorted(new_names - old_names), sorted(old_names - new_names)
            parts = [f"+ {name}" for name in added] + [f"− {name}" for name in removed]
            found.append(Change(key, "", ", ".join(parts) or "passwords changed"))
            continue
        found.append(Change(key, _show(old), _show(new)))
    return found


def describe(items: Iterable[Change]) -> str:
    """The change list as Markdown lines for the confirmation step."""
    return "\n".join(item.line() for item in items) or "- (nothing changes)"
