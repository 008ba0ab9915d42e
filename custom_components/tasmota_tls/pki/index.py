"""The index of issued certificates: persistent, crash-safe, never reusing a serial."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

from .errors import NotFoundError, StoreCorruptError
from .fsutil import atomic_write

Kind: TypeAlias = Literal["ca", "broker", "device", "ha_client", "imported"]
Status: TypeAlias = Literal["valid", "revoked", "expired"]

INDEX_VERSION = 1


@dataclass(frozen=True)
class IndexEntry:
    serial: str  # lowercase hex, no leading zeros
    cn: str
    kind: Kind
    not_before: dt.datetime | None  # None for an imported row whose certificate file is gone
    not_after: dt.datetime
    status: Status = "valid"
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    topic: str | None = None
    # The device (12 hex digits) a certificate was issued for. Older stores have none;
    # left out of the file when unknown, so they read back exactly as they were.
    mac: str | None = None

    @property
    def serial_int(self) -> int:
        return int(self.serial, 16)

    def current_status(self, now: dt.datetime) -> Status:
        """Valid entries past not_after read as expired."""
        if self.status == "valid" and self.not_after <= now:
            return "expired"
        return self.status

    def revoked(self, when: dt.datetime, reason: str) -> IndexEntry:
        return replace(self, status="revoked", revoked_at=when, reason=reason)

    def to_json(self) -> dict[str, Any]:
        # Every field is an immutable value: a shallow copy (asdict deep-copies, and the
        # index of a large fleet is written often).
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if data["mac"] is None:
            del data["mac"]
        for name in ("not_before", "not_after", "revoked_at"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexEntry:
        values = dict(data)
        for name in ("not_before", "not_after", "revoked_at"):
            if values.get(name) is not None:
                values[name] = dt.datetime.fromisoformat(values[name])
        return cls(**values)


@dataclass
class Index:
    """Entries, their certificates (DER) and every serial ever used, in one file.

    One file means one atomic replace: an entry and its certificate land together or
    not at all.
    """

    entries: list[IndexEntry]
    used_serials: set[int]
    crl_number: int = 0
    certificates: dict[str, bytes] = field(default_factory=dict)  # serial -> DER

    def add(self, entry: IndexEntry, der: bytes | None = None, *, first: bool = False) -> None:
        self.entries.insert(0 if first else len(self.entries), entry)
        self.used_serials.add(entry.serial_int)
        if der is not None:
            self.certificates[entry.serial] = der

    def replace_entry(self, old: IndexEntry, new: IndexEntry) -> None:
        self.entries[self.entries.index(old)] = new

    def dumps(self) -> bytes:
        payload = {
            "version": INDEX_VERSION,
            "crl_number": self.crl_number,
            "entries": [entry.to_json() for entry in self.entries],
            "used_serials": sorted(f"{serial:x}" for serial in self.used_serials),
            "certificates": {
                serial: base64.b64encode(der).decode() for serial, der in self.certificates.items()
            },
        }
        return json.dumps(payload, separators=(",", ":")).encode()

    def save(self, path: Path) -> None:
        atomic_write(path, self.dumps())

    @classmethod
    def load(cls, path: Path) -> Index:
        try:
            payload = json.loads(path.read_bytes())
            if payload.get("version") != INDEX_VERSION:
                raise ValueError(f"unknown version {payload.get('version')!r}")
            entries = [IndexEntry.from_json(item) for item in payload["entries"]]
            used = {int(serial, 16) for serial in payload["used_serials"]}
            crl_number = int(payload.get("crl_number", 0))
            certificates = {
                serial: base64.b64decode(der, validate=True)
                for serial, der in payload.get("certificates", {}).items()
            }
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreCorruptError(
                f"The certificate index {path} is unreadable ({err.__class__.__name__}: {err}). "
                "Restore it from a backup; nothing was changed."
            ) from err
        used.update(entry.serial_int for entry in entries)
        return cls(entries, used, crl_number, certificates)


def file_signature(path: Path) -> tuple[int, int, int]:
    """Changes whenever the file is replaced or rewritten: cache key for a loaded index."""
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size


def find_in(index: Index, serial_or_name: str) -> IndexEntry:
    """An entry by serial (hex), or the newest valid one with that CN."""
    wanted = serial_or_name.lower().removeprefix("0x").lstrip("0") or "0"
    for entry in index.entries:
        if entry.serial == wanted:
            return entry
    named = [e for e in index.entries if e.cn == serial_or_name and e.status == "valid"]
    if not named:
        raise NotFoundError(f"No valid certificate named or numbered {serial_or_name!r}.")
    return max(named, key=lambda e: e.not_after)
