"""The config flow offers the add-on, shows every change, and applies only on consent."""

from __future__ import annotations

import copy
import stat

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.tasmota_tls.const import DOMAIN
from tests.helpers.mosquitto import free_port

from .flow import PASSPHRASE, async_flow_to_confirm
from .world import AddonWorld


@pytest.mark.usefixtures("mock_hass_config")
async def test_decline_leaves_the_addon_exactly_as_it_was(
    hass: HomeAssistant, addon_world: AddonWorld
) -> None:
    before = copy.deepcopy(addon_world.supervisor.stored)
    rendered = addon_world.addon.rendered
    result = await async_flow_to_confirm(hass)
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    text = placeholders["changes"]
    assert "`require_certificate`: `false` → `true`" in text
    assert "`certfile`: `fullchain.pem` → `tasmota-tls-broker.pem`" in text
    assert "`customize`" in text
    assert placeholders["other_logins"] == "DVES_USER"

    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "decline"}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    sup = addon_world.supervisor
    assert sup.stored == before
    assert sup.restarts == 0
    assert [c for c in sup.calls if c[0] == "POST"] == []
    assert list(addon_world.ssl_dir.iterdir()) == []
    assert list(addon_world.share_dir.iterdir()) == []
    assert addon_world.addon.rendered == rendered


@pytest.mark.usefixtures("mock_hass_config")
async def test_bundle_path_when_no_supervisor(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "create_ca"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "CA",
            "ca_algorithm": "rsa",
            "custody": "unattended",
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert result["step_id"] == "broker"


@pytest.mark.usefixtures("mock_hass_config")
async def test_apply_sets_our_options_keeps_the_rest_and_checks_the_certificate(
    hass: HomeAssistant, addon_world: AddonWorld
) -> None:
    result = await async_flow_to_confirm(hass)
    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY, done
    sup = addon_world.supervisor
    stored = sup.stored
    assert stored["logins"] == [{"username": "DVES_USER", "password": "DVES_PASS"}]
    assert stored["debug"] is False
    assert (stored["certfile"], stored["keyfile"], stored["cafile"]) == (
        "tasmota-tls-broker.pem", "tasmota-tls-broker.key", "tasmota-tls-ca.pem")  # fmt: skip
    assert stored["require_certificate"] is True
    assert stored["customize"] == {"active": True, "folder": "mosquitto"}
    assert sup.restarts == 1
    key = addon_world.ssl_dir / "tasmota-tls-broker.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    chain = (addon_world.ssl_dir / "tasmota-tls-broker.pem").read_text()
    assert chain.count("BEGIN CERTIFICATE") == 2  # the broker certificate and its CA
    acl = (addon_world.share_dir / "mosquitto" / "tasmota-tls.acl").read_text()
    for user in ("homeassistant", "addons", "DVES_USER"):
        assert f"user {user}\ntopic readwrite #" in acl
    rendered = addon_world.addon.rendered
    assert "require_certificate true" in rendered
    # The add-on's order: the customize folder before the listeners (addon_mosquitto.py).
    assert rendered.index("include_dir ") < rendered.index("listener ")
    # So our file holds only a global option, which means the same wherever it is read.
    conf = (addon_world.share_dir / "mosquitto" / "tasmota-tls.conf").read_text()
    options = [line.split()[0] for line in conf.splitlines() if line.strip()]
    assert [o for o in options if not o.startswith("#")] == ["acl_file"]


@pytest.mark.usefixtures("mock_hass_config")
async def test_a_users_acl_file_in_the_folder_is_refused_and_kept(
    hass: HomeAssistant, addon_world: AddonWorld
) -> None:
    folder = addon_world.share_dir / "mosquitto"
    folder.mkdir()
    mine = folder / "acl.conf"
    mine.write_text("acl_file /share/mosquitto/accesscontrollist\n")
    before = copy.deepcopy(addon_world.supervisor.stored)
    result = await async_flow_to_confirm(hass)
    assert result["errors"] == {"base": "addon_acl_conflict"}
    again = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert again["errors"] == {"base": "addon_acl_conflict"}
    assert addon_world.supervisor.stored == before
    assert mine.read_text() == "acl_file /share/mosquitto/accesscontrollist\n"
    assert free_port()  # the loopback is still usable (no port leaked by the flow)
