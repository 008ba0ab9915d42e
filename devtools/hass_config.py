"""Home Assistant's configuration folder for development: offline, loopback only.

Home Assistant always sets up its default integrations (analytics stays off until the
owner turns it on); nothing in this configuration adds discovery, cloud or update
checks, so the instance talks to loopback only. The integration is loaded from the
checkout through a symlink, so edits take effect at the next start.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from homeassistant.components.http.config import HTTP_STORAGE_SCHEMA
from homeassistant.components.onboarding import STORAGE_VERSION as ONBOARDING_STORE_VERSION
from homeassistant.components.onboarding.const import STEP_CORE_CONFIG

from .workspace import LOOPBACK, REPO_ROOT

INTEGRATION_SOURCE = REPO_ROOT / "custom_components" / "tasmota_tls"
# Storage versions of the config entries file and of MQTT's entry that every supported
# release reads; 2026.10 migrates the MQTT entry to its version 2.1 on load.
CONFIG_ENTRIES_VERSION = (1, 5)
MQTT_ENTRY_VERSION = (1, 2)
# The HTTP store of Home Assistant 2026.8 to 2026.10 (homeassistant/components/http/config.py).
HTTP_STORE_VERSION = (2, 2)


def configuration_yaml(http_port: int) -> str:
    return f"""\
# Written by scripts/develop at every start; changes here are lost.
homeassistant:
  name: Tasmota TLS (development)
  # Latitude/longitude 0 keep onboarding from adding a weather service.
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: DE
  currency: EUR
  language: en
  internal_url: "http://{LOOPBACK}:{http_port}"

frontend:
config:
api:
# What a normal installation loads (default_config) to watch statuses over time; the
# database is config/home-assistant_v2.db.
recorder:
  commit_interval: 1
history:
logbook:

logger:
  default: info
  logs:
    custom_components.tasmota_tls: debug
"""


def link_integration(config_dir: Path) -> None:
    """config/custom_components/tasmota_tls -> the checkout's integration."""
    folder = config_dir / "custom_components"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "tasmota_tls"
    target = os.path.relpath(INTEGRATION_SOURCE, folder)
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise RuntimeError(f"{link} is a folder; remove it so the checkout can be linked")
    link.symlink_to(target)


def mqtt_entry(port: int, username: str, password: str) -> dict[str, object]:
    """An MQTT config entry as Home Assistant stores it."""
    now = datetime.now(UTC).isoformat()
    return {
        "created_at": now,
        "data": {"broker": LOOPBACK, "port": port, "username": username, "password": password},
        "discovery_keys": {},
        "disabled_by": None,
        "domain": "mqtt",
        "entry_id": uuid.uuid4().hex[:26].upper(),
        "minor_version": MQTT_ENTRY_VERSION[1],
        "modified_at": now,
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": LOOPBACK,
        "unique_id": None,
        "version": MQTT_ENTRY_VERSION[0],
    }


def seed_mqtt_entry(config_dir: Path, port: int, username: str, password: str) -> bool:
    """Before the first start: an MQTT entry for the local broker. False when entries exist.

    Home Assistant keeps broker settings only in a config entry; writing it before the
    first start saves the newcomer a form. Later starts leave the file alone.
    """
    path = config_dir / ".storage" / "core.config_entries"
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": CONFIG_ENTRIES_VERSION[0],
        "minor_version": CONFIG_ENTRIES_VERSION[1],
        "key": "core.config_entries",
        "data": {"entries": [mqtt_entry(port, username, password)]},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    return True


def update_mqtt_port(config_dir: Path, port: int, password: str) -> None:
    """Keep the stored MQTT entry pointed at this broker (ports are saved, but be safe)."""
    path = config_dir / ".storage" / "core.config_entries"
    document = json.loads(path.read_text())
    changed = False
    for entry in document["data"]["entries"]:
        data = entry.get("data", {})
        ours = entry.get("domain") == "mqtt" and data.get("broker") == LOOPBACK
        if ours and (data.get("port") != port or data.get("password") != password):
            data.update(port=port, password=password)
            changed = True
    if changed:
        path.write_text(json.dumps(document, indent=2))


def write_http_store(config_dir: Path, http_port: int) -> None:
    """Home Assistant's HTTP settings, confirmed, in its own store (2026.8 and newer).

    Those releases keep the HTTP server's settings in .storage/http. YAML settings are
    imported once, then ignored, and a changed port is a "pending" setting that the
    frontend asks the owner to confirm: the development instance's port changes from
    run to run, so it is written here as the confirmed ("stable") setting every time.
    """
    path = config_dir / ".storage" / "http"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "version": HTTP_STORE_VERSION[0],
        "minor_version": HTTP_STORE_VERSION[1],
        "key": "http",
        "data": {
            # The store holds every setting; Home Assistant's own schema fills the defaults.
            "stable": HTTP_STORAGE_SCHEMA({"server_host": [LOOPBACK], "server_port": http_port}),
            "pending": None,
            "yaml_migration_done": True,
        },
    }
    path.write_text(json.dumps(document, indent=2))


def seed_onboarding(config_dir: Path) -> None:
    """Mark onboarding's location step ("core_config") done before Home Assistant starts.

    Finishing that step makes Home Assistant start the config flows of Google Translate
    speech, Radio Browser, Met and the shopping list. The first two are online services:
    on this loopback-only instance their requirements (gTTS, mutagen) cannot even be
    installed, so the flow fails and the dashboard shows a failure card. The step has
    nothing to ask here anyway, since configuration.yaml sets the location, units and
    language. The owner still creates the account, and answers analytics, in the browser.
    """
    path = config_dir / ".storage" / "onboarding"
    if path.exists():
        document = json.loads(path.read_text())
        done = document["data"]["done"]
        if STEP_CORE_CONFIG in done:
            return
        done.append(STEP_CORE_CONFIG)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": ONBOARDING_STORE_VERSION,
            "minor_version": 1,
            "key": "onboarding",
            "data": {"done": [STEP_CORE_CONFIG]},
        }
    # Home Assistant keeps this store private (0600).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)


def write_config(config_dir: Path, http_port: int) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(configuration_yaml(http_port))
    write_http_store(config_dir, http_port)
    seed_onboarding(config_dir)
    link_integration(config_dir)
