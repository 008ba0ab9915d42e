"""Applying to the add-on fails safely: options changed meanwhile, a failed restart."""

from __future__ import annotations

import copy
import logging

import pytest
from homeassistant.core import HomeAssistant

from .flow import async_flow_to_confirm
from .world import AddonWorld


@pytest.mark.usefixtures("mock_hass_config")
async def test_options_changed_since_the_plan_are_not_overwritten(
    hass: HomeAssistant, addon_world: AddonWorld
) -> None:
    result = await async_flow_to_confirm(hass)
    sup = addon_world.supervisor
    sup.stored = {**sup.stored, "debug": True}  # the user changed the add-on meanwhile
    changed = copy.deepcopy(sup.stored)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert result["step_id"] == "addon_confirm"
    assert result["errors"] == {"base": "addon_options_changed"}
    assert sup.stored == changed
    assert sup.restarts == 0
    assert list(addon_world.ssl_dir.iterdir()) == []  # nothing of ours written either


@pytest.mark.usefixtures("mock_hass_config")
async def test_a_failed_restart_puts_the_options_back(
    hass: HomeAssistant, addon_world: AddonWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    sup = addon_world.supervisor
    before = sup.options  # the add-on's options as it runs them (its defaults filled in)
    result = await async_flow_to_confirm(hass)
    sup.fail_restart = True
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert result["step_id"] == "addon_confirm"
    assert result["errors"] == {"base": "addon_restart_failed"}
    assert sup.options == before  # our options were set, then put back
    assert sup.restarts == 0
    # The put-back's own restart failed as well, and the log says so.
    assert "Could not put the Mosquitto add-on's options back" in caplog.text

    # Once the add-on restarts again, the retry applies.
    sup.fail_restart = False
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"addon_action": "apply"}
    )
    assert result["type"] == "create_entry", result
    assert sup.stored["require_certificate"] is True
    assert sup.restarts == 1
