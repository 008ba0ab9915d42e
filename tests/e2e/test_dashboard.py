"""docs/dashboard.yaml in a real browser: the card set renders every device, soonest expiry
first, with its TLS status.

`TASMOTA_TLS_UPDATE_SCREENSHOTS=1` also copies the screenshot to docs/ for the README.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import yaml

from devtools.demo import device_entities
from devtools.ha_api import HomeAssistantApi, Login
from tests.e2e.browser import Browser, ensure_chromium
from tests.e2e.develop_process import REPO_ROOT, processes_mentioning, running_develop
from tests.e2e.screenshots import HEIGHT, WIDTH, keep

CARDS = REPO_ROOT / "docs" / "dashboard.yaml"


async def _ca_entity(api: HomeAssistantApi, key: str) -> str:
    """The CA's own sensor (unique ID ``<entry>_<key>``, no MAC in it)."""
    entities = await api.ws("config/entity_registry/list")
    (found,) = [
        e["entity_id"]
        for e in entities
        if e["platform"] == "tasmota_tls" and re.fullmatch(rf"[^_]+_{key}", e["unique_id"])
    ]
    return str(found)


async def cards_for(api: HomeAssistantApi) -> list[dict[str, Any]]:
    """The documented cards, with the glance card pointed at this CA's entities."""
    cards: list[dict[str, Any]] = yaml.safe_load(CARDS.read_text())
    keys = ["enrolled_devices", "expiring_devices", "ca_expiry", "broker_certificate_expiry",
            "crl_next_update"]  # fmt: skip
    glance = next(card for card in cards if card["type"] == "glance")
    assert len(glance["entities"]) == len(keys)
    glance["entities"] = [
        {**item, "entity": await _ca_entity(api, key)}
        for item, key in zip(glance["entities"], keys, strict=True)
    ]
    return cards


async def test_dashboard_cards_list_devices_by_expiry(tmp_path: Path) -> None:
    ensure_chromium()
    async with running_develop(tmp_path, devices=5) as run:
        login = Login(run.info["login"]["username"], run.info["login"]["password"])
        async with HomeAssistantApi(run.url) as api:
            await api.login(login)
            button = (await device_entities(api, "enrol"))[0]
            status = next(
                e["entity_id"]
                for e in await device_entities(api, "tls_status")
                if e["device_id"] == button["device_id"]
            )
            await api.call_service("button", "press", {"entity_id": button["entity_id"]})
            deadline = time.monotonic() + 60
            while (await api.request("GET", f"/api/states/{status}"))["state"] != "connected_tls":
                assert time.monotonic() < deadline, run.diagnostics()
                await asyncio.sleep(0.5)
            # Every device's entities loaded first: the table's template lists the entities
            # there are when the card first renders (the entry may still be reloading,
            # e.g. after Tasmota's devices appeared).
            statuses = {e["entity_id"] for e in await device_entities(api, "tls_status")}
            assert len(statuses) == 5
            deadline = time.monotonic() + 60
            while not statuses <= {
                state["entity_id"]
                for state in await api.request("GET", "/api/states")
                if state["state"] != "unavailable"
            }:
                assert time.monotonic() < deadline, run.diagnostics()
                await asyncio.sleep(0.5)
            # A dashboard of its own (2026.10's default overview is generated, not stored).
            await api.ws(
                "lovelace/dashboards/create",
                url_path="tasmota-tls", title="Tasmota TLS", mode="storage", require_admin=False,
                show_in_sidebar=True,
            )  # fmt: skip
            view = {"title": "TLS", "path": "tls", "cards": await cards_for(api)}
            await api.ws("lovelace/config/save", url_path="tasmota-tls", config={"views": [view]})

            code = await api.authorization_code(login)
            async with Browser(tmp_path / "chromium-profile", WIDTH, HEIGHT) as browser:
                await browser.goto(api.frontend_login_url("/tasmota-tls/tls", code))
                await browser.wait_for_text(
                    "Tasmota TLS devices",
                    "Certificate expires",
                    "Connected over TLS",
                    "Not enrolled",
                    "Certificate authority",
                )
                await asyncio.sleep(1.0)  # let the cards finish their transitions
                text = await browser.text()
                # A rendered table (no markdown left over), the enrolled device (with an
                # expiry) before those without one, and the CA card's labels.
                assert "|:--" not in text and "| Device |" not in text, text
                assert text.index("Connected over TLS") < text.index("Not enrolled"), text
                assert all(label in text for label in ("Enrolled", "Expiring", "CRL")), text
                keep(await browser.screenshot(), "screenshot-dashboard.png", tmp_path)
        assert await run.stop() == 0
    assert processes_mentioning(str(tmp_path)) == []
