"""Secrets at rest (issue 11, finding 5): out of the 0644 config entries, into a 0600 file.

An entry written before (1.1: the unattended passphrase in data, the web password in
options) is migrated on setup; the integration keeps working from the private file.
"""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.secret_store import SecretStore

from .install import PASSPHRASE, install
from .mqtt_bus import MqttBus


async def test_entry_secrets_move_to_a_private_file(
    hass: HomeAssistant, mqtt_bus: MqttBus, config_dir: Path
) -> None:
    installed = await install(hass, options={"web_password": "web secret"})
    entry = installed.entry
    assert (entry.version, entry.minor_version) == (1, 2)
    assert "passphrase" not in entry.data
    assert "web_password" not in entry.options
    secrets = config_dir / ".storage" / "tasmota_tls_secrets" / "teststore.json"
    text = await hass.async_add_executor_job(secrets.read_text)
    assert json.loads(text) == {
        "passphrase": PASSPHRASE,
        "web_password": "web secret",
    }
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.parent.stat().st_mode & 0o777 == 0o700
    data = entry.runtime_data
    assert data.custody.stored_passphrase() == PASSPHRASE
    assert data.operations.enrolment_options().web_password == "web secret"
    store = SecretStore(hass, "teststore")
    await store.async_load()
    assert store.web_password == "web secret"
    for shown in (repr(store), repr(data)):
        assert "web secret" not in shown and PASSPHRASE not in shown
