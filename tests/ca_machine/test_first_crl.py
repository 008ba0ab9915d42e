"""On the CA machine's Python and cryptography: `status` works right after `init`."""

from __future__ import annotations

import json
from pathlib import Path

from .support import run


def test_status_right_after_init(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert "first CRL" in run(pki, "init", "--cn", "First CRL CA").stdout
    status = run(pki, "status")
    assert status.stdout.startswith("OK: "), status.stdout
    report = json.loads(run(pki, "status", "--json").stdout)
    assert report["crl_state"] == "fresh" and report["crl_revoked"] == 0
