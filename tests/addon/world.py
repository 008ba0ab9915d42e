"""What the add-on tests run against: the stand-in Supervisor and its real Mosquitto add-on.

The ``addon_world`` fixture (conftest.py) builds one; tests take its type from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .addon_mosquitto import AddonMosquitto
from .supervisor import FakeSupervisor

# The user's own login for devices that are not enrolled yet (Tasmota's defaults).
USER_LOGIN = {"username": "DVES_USER", "password": "DVES_PASS"}
USER_OPTIONS = {"logins": [USER_LOGIN], "debug": False}


@dataclass
class AddonWorld:
    supervisor: FakeSupervisor
    addon: AddonMosquitto
    ssl_dir: Path
    share_dir: Path

    @property
    def broker(self):
        assert self.addon.broker is not None
        return self.addon.broker
