"""The add-on's confirmation step in Home Assistant's frontend, as a user sees it.

Home Assistant runs under the stand-in Supervisor with the Mosquitto add-on installed
(conftest.py); its frontend is served on 127.0.0.1 and headless chromium walks the config
flow to the step that lists what changes for other clients, with Apply and Decline.
`TASMOTA_TLS_UPDATE_SCREENSHOTS=1` also copies the screenshot to docs/ for the README.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from homeassistant.auth.providers.homeassistant import HassAuthProvider
from homeassistant.core import HomeAssistant

from devtools.ha_api import HomeAssistantApi
from tests.e2e.browser import Browser, ensure_chromium
from tests.e2e.screenshots import HEIGHT, WIDTH, keep

from .flow import PASSPHRASE
from .frontend import (
    OWNER,
    async_setup_frontend,
    click_text,
    mark_onboarded,
    scroll_to_text,
    type_into,
)
from .world import AddonWorld

BROKER_NAME = "homeassistant.local"  # what a user types; nothing resolves it before Apply


@pytest.mark.usefixtures("mock_hass_config")
async def test_the_confirmation_step_lists_the_consequences_with_apply_and_decline(
    hass: HomeAssistant,
    addon_world: AddonWorld,
    local_auth: HassAuthProvider,
    hass_storage: dict[str, Any],
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    ensure_chromium()
    before = copy.deepcopy(addon_world.supervisor.stored)
    mark_onboarded(hass_storage)
    await async_setup_frontend(hass, local_auth)
    server = await aiohttp_client(hass.http.app)
    url = str(server.make_url("")).rstrip("/")

    async with HomeAssistantApi(url) as api:
        code = await api.authorization_code(OWNER)
        async with Browser(tmp_path / "chromium-profile", WIDTH, HEIGHT) as browser:
            await browser.goto(api.frontend_login_url("/config/integrations/dashboard", code))
            await browser.wait_for_text("Add integration")
            await browser.goto(f"{url}/config/integrations/dashboard/add?domain=tasmota_tls")
            # The "add integration" link asks first, as for any integration.
            await browser.wait_for_text("Do you want to set up Tasmota TLS?")
            await click_text(browser, "OK")
            await browser.wait_for_text("Create a new CA", "Use an Easy-RSA pki/ folder")
            await click_text(browser, "Create a new CA")
            await browser.wait_for_text("CA key custody", "Confirm passphrase")
            await type_into(browser, "password", 0, PASSPHRASE)
            await type_into(browser, "password", 1, PASSPHRASE)
            await click_text(browser, "Submit")

            # The add-on is found: the offer comes before the broker step.
            await browser.wait_for_text("Mosquitto add-on found", "version 7.1.0")
            await click_text(browser, "Configure the Mosquitto add-on for me")
            await browser.wait_for_text("Mosquitto add-on: broker name", "Broker host")
            await type_into(browser, "text", 0, BROKER_NAME)
            await click_text(browser, "Submit")

            # The description is markdown the frontend renders after the form: wait for it.
            text = await browser.wait_for_text(
                "Mosquitto add-on: review the changes",
                "What changes for other clients",
                "Decline to leave the add-on exactly as it is",
            )
            # Every option it would set, with its value before and after.
            for option in ("require_certificate", "certfile", "keyfile", "cafile", "customize"):
                assert option in text
            assert "fullchain.pem" in text and "tasmota-tls-broker.pem" in text
            # What that means for other clients.
            assert "What changes for other clients" in text
            assert (
                "require_certificate holds for both TLS listeners, 8883 (MQTT) and 8884 "
                "(websockets): a TLS client without a certificate from this CA is refused"
            ) in text
            assert "1883 and 1884 stay as they are" in text
            assert "your logins (DVES_USER) full access" in text
            assert "The add-on has no CRL" in text
            assert f"the new certificate for {BROKER_NAME}" in text
            # The choice, nothing written before it.
            assert "Apply these changes" in text and "Decline: change nothing" in text
            assert addon_world.supervisor.stored == before
            assert addon_world.supervisor.restarts == 0
            assert list(addon_world.ssl_dir.iterdir()) == []
            # The picture: the consequences and the two choices below them.
            await scroll_to_text(browser, "Decline: change nothing", "end")
            await asyncio.sleep(1.0)  # let the dialog finish its transitions
            keep(await browser.screenshot(), "screenshot-addon-confirm.png", tmp_path)
