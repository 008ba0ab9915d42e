"""Crash-safe file writes: temp file in the same folder, fsync, then atomic replace."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import PkiError

KEY_MODE = 0o600
PUBLIC_MODE = 0o644


def atomic_write(path: Path, data: bytes, mode: int = PUBLIC_MODE) -> None:
    """Replace path with data so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)  # before any byte is written: a key is never world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PkiError(
            f"Could not write {path.name} in {path.parent}: {err.strerror or err}. "
            "The previous file is unchanged; free some space or make the folder writable.",
            code="write_failed",
        ) from err
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
