"""What the PKI core's tests share besides fixtures: the passphrase and a folder snapshot."""

from __future__ import annotations

import hashlib
from pathlib import Path

PASSPHRASE = "correct horse battery staple"


def snapshot(directory: Path) -> dict[str, str]:
    """Every file's content hash, to prove that a refused operation changed nothing."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }
