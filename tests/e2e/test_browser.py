"""The device page in a real browser: logged in, it shows the certificate and TLS status.

`TASMOTA_TLS_UPDATE_SCREENSHOTS=1` also copies the screenshots to docs/ for the README.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from devtools.demo import device_entities
from devtools.ha_api import HomeAssistantApi, Login
from tests.e2e.browser import Browser, ensure_chromium
from tests.e2e.develop_process import processes_mentioning, running_develop
from tests.e2e.screenshots import HEIGHT, WIDTH, keep


def nth_device_mac(devices_log: Path, number: int) -> str:
    """The MAC of the simulator's device ``number`` (1-based, in the order it started them)."""
    macs = re.findall(r"fleet \| \S+ mac ([0-9A-F]{12}) ", devices_log.read_text())
    return macs[number - 1]


async def wait_for_state(api: HomeAssistantApi, entity_id: str, state: str, run: Any) -> None:
    deadline = time.monotonic() + 60
    while (await api.request("GET", f"/api/states/{entity_id}"))["state"] != state:
        assert time.monotonic() < deadline, run.diagnostics()
        await asyncio.sleep(0.5)


async def test_device_page_shows_certificate_expiry_and_tls_status(tmp_path: Path) -> None:
    """One device enrolled; device 5 runs firmware without TLSKey, so its enrolment fails."""
    ensure_chromium()
    async with running_develop(tmp_path, devices=5, extra=("--no-tlskey", "5")) as run:
        login = Login(run.info["login"]["username"], run.info["login"]["password"])
        refusing = nth_device_mac(Path(run.info["logs"]["devices"]), 5)
        async with HomeAssistantApi(run.url) as api:
            await api.login(login)
            buttons = await device_entities(api, "enrol")
            button = next(b for b in buttons if refusing not in b["unique_id"])
            device_id = button["device_id"]
            status = next(
                e["entity_id"]
                for e in await device_entities(api, "tls_status")
                if e["device_id"] == device_id
            )
            await api.call_service("button", "press", {"entity_id": button["entity_id"]})
            await wait_for_state(api, status, "connected_tls", run)

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

                # The CA's own device: its expiry, the broker certificate's, the CRL's and
                # the count of enrolled devices. (Home Assistant 2026.10's default overview
                # dashboard groups devices by area and shows no entity states; the cards in
                # docs/dashboard.yaml list every device, test_dashboard.py.)
                ca_device = next(
                    e["device_id"]
                    for e in await api.ws("config/entity_registry/list")
                    if e["platform"] == "tasmota_tls" and e["unique_id"].endswith("_ca_expiry")
                )
                await browser.goto(f"{run.url}/config/devices/device/{ca_device}")
                await browser.wait_for_text("CA expiry", "Enrolled devices", "CRL next update")
                await asyncio.sleep(1.0)
                keep(await browser.screenshot(), "screenshot-ca.png", tmp_path)

                # A failure the user can act on: its reason on the device page, and a repair.
                failing = next(b for b in buttons if refusing in b["unique_id"])
                failing_status = next(
                    e["entity_id"]
                    for e in await device_entities(api, "tls_status")
                    if e["device_id"] == failing["device_id"]
                )
                await api.call_service("button", "press", {"entity_id": failing["entity_id"]})
                await wait_for_state(api, failing_status, "failed", run)
                await browser.goto(f"{run.url}/config/devices/device/{failing['device_id']}")
                await browser.wait_for_text("Failed", "Last failure", "Firmware without TLSKey")
                await asyncio.sleep(1.0)
                keep(await browser.screenshot(), "screenshot-failed-device.png", tmp_path)
                await browser.goto(f"{run.url}/config/repairs")
                await browser.wait_for_text("cannot take a client certificate")
                await asyncio.sleep(1.0)
                keep(await browser.screenshot(), "screenshot-repairs.png", tmp_path)
        assert await run.stop() == 0
    assert processes_mentioning(str(tmp_path)) == []
