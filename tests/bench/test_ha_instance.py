"""The bench's Home Assistant must not restart itself halfway through a long run.

Home Assistant 2026.10 stages HTTP settings given in YAML as a "pending" trial and
restarts itself when nobody confirms the trial within 5 minutes. A loaded 500-device
run lasted longer: Home Assistant stopped, our entry unloaded mid-enrolment, and the
bench waited on devices left at ``wait_online`` until its bound.

The bench's Home Assistant runs in a process of its own here, as in the bench: the
test harness's Home Assistant would not go through the HTTP store at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devtools.workspace import REPO_ROOT

_PROBE = """
import asyncio, json, tempfile
from pathlib import Path
from homeassistant.components.http.config import DATA_STORE
from bench.ha_instance import start_home_assistant, stop_home_assistant

async def main():
    with tempfile.TemporaryDirectory() as tmp:
        hass = await start_home_assistant(Path(tmp), domains=())
        store = hass.data[DATA_STORE]
        deadline = getattr(store, "revert_deadline", None)
        print(json.dumps({
            "config": getattr(store, "active_config_type", "stable"),
            "revert_deadline": None if deadline is None else deadline.isoformat(),
            "port": hass.http.server_port,
        }))
        await stop_home_assistant(hass)

asyncio.run(main())
"""


def test_http_settings_are_confirmed_so_no_restart_is_scheduled() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["config"] == "stable"
    assert seen["revert_deadline"] is None
    assert isinstance(seen["port"], int) and seen["port"] > 0
