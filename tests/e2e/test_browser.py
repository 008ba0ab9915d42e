"""The device page in a real browser: logged in, it shows the certificate and TLS status.

`TASMOTA_TLS_UPDATE_SCREENSHOTS=1` also copies the screenshots to docs/ for the README.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from pathlib import Path

from PIL import Image

from devtools.demo import device_entities
from devtools.ha_api import HomeAssistantApi, Login
from tests.e2e.browser import Browser, ensure_chromium
from tests.e2e.develop_process import REPO_ROOT, processes_mentioning, running_develop

DOCS = REPO_ROOT / "docs"
WIDTH, HEIGHT = 1280, 900


def keep(png: bytes, name: str, tmp_path: Path) -> None:
    """Check the picture is a real page (right size, not one flat colour) and save it."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT)
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) blank"
    (tmp_path / name).write_bytes(png)
    if os.environ.get("TASMOTA_TLS_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / name, DOCS / name)


async def test_device_page_shows_certificate_expiry_and_tls_status(tmp_path: Path) -> None:
    ensure_chromium()
    async with running_develop(tmp_path, devices=5) as run:
        login = Login(run.info["login"]["username"], run.info["login"]["password"])
        async with HomeAssistantApi(run.url) as api:
            await api.login(login)
            button = (await device_entities(api, "enrol"))[0]
            device_id = button["device_id"]
            status = next(
                e["entity_id"]
                for e in await device_entities(api, "tls_status")
                if e["device_id"] == device_id
            )
            await api.call_service("button", "press", {"entity_id": button["entity_id"]})
            deadline = time.monotonic() + 60
            while (await api.request("GET", f"/api/states/{status}"))["state"] != "connected_tls":
                assert time.monotonic() < deadline, run.diagnostics()
                await asyncio.sleep(0.5)

            # The frontend logs itself in with an authorization code, as after its login form.
            code = await api.authorization_code(login)
            device_page = api.frontend_login_url(f"/config/devices/device/{device_id}", code)
            async with Browser(tmp_path / "chromium-profile", WIDTH, HEIGHT) as browser:
                await browser.goto(device_page)
                await browser.wait_for_text(
                    "Certificate expiry", "TLS status", "Connected over TLS"
                )
                await asyncio.sleep(1.0)  # let the cards finish their transitions
                keep(await browser.screenshot(), "screenshot-device.png", tmp_path)

                # The default dashboard: every device's status, one of them on TLS.
                await browser.goto(f"{run.url}/lovelace/0")
                await browser.wait_for_text(
                    "Connected over TLS", "Not enrolled", "Enrolled devices", "CA expiry"
                )
                await asyncio.sleep(1.0)
                keep(await browser.screenshot(), "screenshot-overview.png", tmp_path)
        assert await run.stop() == 0
    assert processes_mentioning(str(tmp_path)) == []
