"""The development instance's onboarding starts no online service (Google Translate etc.)."""

from __future__ import annotations

import json
import stat
from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from devtools.hass_config import seed_onboarding

ONLINE = {"google_translate", "radio_browser"}


async def _finish_core_config(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> tuple[int, set[str], dict[str, bool]]:
    """What the frontend does at the location step; the flows Home Assistant started."""
    started: set[str] = set()

    async def record(domain: str, **_kwargs: Any) -> dict[str, Any]:
        started.add(domain)
        return {}

    with patch.object(hass.config_entries.flow, "async_init", AsyncMock(side_effect=record)):
        assert await async_setup_component(hass, "onboarding", {})
        client = await hass_client()
        steps = await (await client.get("/api/onboarding")).json()
        response = await client.post("/api/onboarding/core_config", json={})
        await hass.async_block_till_done()
    return response.status, started, {step["step"]: step["done"] for step in steps}


@pytest.mark.parametrize("seeded", [False, True])
async def test_seeded_onboarding_starts_no_online_service(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    tmp_path: Path,
    seeded: bool,
) -> None:
    if seeded:  # the file devtools writes, as Home Assistant's (mocked) storage reads it
        seed_onboarding(tmp_path)
        path = tmp_path / ".storage" / "onboarding"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        hass_storage["onboarding"] = json.loads(path.read_text())
    status, started, steps = await _finish_core_config(hass, hass_client)
    if seeded:
        assert steps["core_config"] is True and steps["analytics"] is False
        assert status == HTTPStatus.FORBIDDEN  # the step is done: nothing is started
        assert started == set()
    else:  # what an unseeded instance does: the online services' flows start
        assert status == HTTPStatus.OK
        assert started >= ONLINE


def test_seeding_keeps_what_was_done(tmp_path: Path) -> None:
    path = tmp_path / ".storage" / "onboarding"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 4, "minor_version": 1, "key": "onboarding",
                                "data": {"done": ["user"]}}))  # fmt: skip
    seed_onboarding(tmp_path)
    seed_onboarding(tmp_path)  # at every start: once is enough
    assert json.loads(path.read_text())["data"]["done"] == ["user", "core_config"]
