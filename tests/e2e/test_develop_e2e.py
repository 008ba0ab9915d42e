"""The newcomer's path, end to end: `scripts/develop --demo` and Home Assistant's own API.

Real processes on loopback: Mosquitto, five virtual Tasmota devices and Home Assistant
started by scripts/develop. Everything is driven through Home Assistant's HTTP and
WebSocket API (onboarding/auth endpoints for the token); the broker's log is the
independent witness of who connected with which certificate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.const import __version__ as HA_VERSION

from custom_components.tasmota_tls.pki import PkiStore
from devtools.demo import device_entities
from devtools.ha_api import HomeAssistantApi, Login
from tests.e2e.develop_process import (
    foreign_connections,
    pid_alive,
    processes_mentioning,
    running_develop,
)
from tests.helpers.mosquitto import connected_line, disconnected_line

DEVICES = 5


async def until[T](
    what: str,
    probe: Callable[[], Awaitable[T | None]],
    timeout: float,  # noqa: ASYNC109 (a polling deadline, reported in the failure)
    diagnostics: Callable[[], str],
) -> T:
    """Poll until ``probe`` returns something other than None; else fail with the logs."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{diagnostics()}")
        await asyncio.sleep(0.5)


def device_addresses(devices_log: Path) -> dict[str, str]:
    """MAC -> the device's own loopback address, as the simulator announced it."""
    found = re.findall(
        r"fleet \| \S+ mac ([0-9A-F]{12}) http://([\d.]+):\d+/cm", devices_log.read_text()
    )
    return dict(found)


def tls_sessions(log: str, tls_port: int) -> dict[str, tuple[str, str]]:
    """Username (certificate CN) -> (address, client ID) of clients on the TLS port."""
    on_tls = set(re.findall(rf"New connection from ([\d.]+:\d+) on port {tls_port}\.", log))
    sessions = {}
    for address, client_id, username in re.findall(
        connected_line(address=r"([\d.]+:\d+)", client=r"(\S+)", user="([^']+)"), log
    ):
        if address in on_tls:
            sessions[username] = (address, client_id)
    return sessions


async def test_develop_demo_enrol_and_revoke_through_home_assistant(tmp_path: Path) -> None:
    async with running_develop(tmp_path, DEVICES) as run:
        # The script printed the owner it onboarded.
        login = run.info["login"]
        assert f"{login['username']}  /  {login['password']}" in run.output_text()
        # The Home Assistant under test (2026.10.x for the current one) names itself.
        assert f"Home Assistant {HA_VERSION} starting at" in run.output_text()
        tls_port = int(run.info["mqtt_tls_port"])
        addresses = device_addresses(Path(run.info["logs"]["devices"]))
        assert len(addresses) == DEVICES

        async with HomeAssistantApi(run.url) as api, aiohttp.ClientSession() as http:
            # The demo onboarded the owner through the onboarding endpoints: every step is
            # done. The token comes from the auth API's login flow, as the frontend gets it.
            steps = await api.onboarding_steps()
            assert steps == {s: True for s in ("user", "core_config", "analytics", "integration")}
            await api.login(Login(login["username"], login["password"]))
            assert (await api.request("GET", "/api/"))["message"] == "API running."

            buttons = await device_entities(api, "enrol")
            status = {
                e["device_id"]: e["entity_id"] for e in await device_entities(api, "tls_status")
            }
            expiry = {
                e["device_id"]: e["entity_id"]
                for e in await device_entities(api, "certificate_expiry")
            }
            assert len(buttons) == len(status) == len(expiry) == DEVICES

            async def states() -> dict[str, Any]:
                return {s["entity_id"]: s for s in await api.states()}

            before = await states()
            assert all(before[e]["state"] != "connected_tls" for e in status.values())

            # Press every device's Enrol button.
            for button in buttons:
                await api.call_service("button", "press", {"entity_id": button["entity_id"]})

            async def all_on_tls() -> dict[str, Any] | None:
                now = await states()
                ok = all(now[e]["state"] == "connected_tls" for e in status.values())
                return now if ok else None

            after = await until("every device on TLS", all_on_tls, 75, run.diagnostics)

            # Each certificate expiry sensor holds a date about a year out.
            today = dt.datetime.now(dt.UTC)
            for entity in expiry.values():
                not_after = dt.datetime.fromisoformat(after[entity]["state"])
                assert abs(not_after - today - dt.timedelta(days=365)) < dt.timedelta(days=1)

            # The broker saw each certificate's identity on the TLS port, from the device.
            stores = list((run.config / ".storage" / "tasmota_tls").iterdir())
            assert len(stores) == 1
            certificates = [e for e in PkiStore(stores[0]).entries() if e.kind == "device"]
            assert len(certificates) == DEVICES
            assert all(c.status == "valid" for c in certificates)
            sessions = tls_sessions(run.broker_log.read_text(), tls_port)
            ips = set(addresses.values())
            for certificate in certificates:
                assert certificate.cn in sessions, run.diagnostics()
                assert sessions[certificate.cn][0].split(":")[0] in ips
            expiry_dates = sorted(
                dt.datetime.fromisoformat(after[e]["state"]) for e in expiry.values()
            )
            assert expiry_dates == sorted(c.not_after.replace(microsecond=0) for c in certificates)

            # The development setup records history, as a normal installation does: each
            # status went from not_enrolled to connected_tls, and /history is served.
            one_status = next(iter(status.values()))

            async def recorded() -> list[str] | None:
                periods = await api.request(
                    "GET", f"/api/history/period?filter_entity_id={one_status}"
                )
                seen = [s["state"] for period in periods for s in period]
                return seen if "connected_tls" in seen else None

            seen = await until("the recorded history", recorded, 30, run.diagnostics)
            assert "not_enrolled" in seen
            assert await api.request("GET", "/api/logbook") is not None
            assert "<html" in (await api.text("/history")).lower()

            # Revoke one device; its next connection is refused, the others stay.
            victim_device, victim_status = next(iter(status.items()))
            victim_mac = next(
                b["unique_id"].split("_")[1] for b in buttons if b["device_id"] == victim_device
            )
            victim_ip = addresses[victim_mac]
            victim_cn = next(cn for cn, s in sessions.items() if s[0].startswith(victim_ip + ":"))
            mark = run.broker_log.stat().st_size
            reply = await api.call_service(
                "tasmota_tls", "revoke", {"device_id": victim_device}, response=True
            )
            assert reply["service_response"]["common_name"] == victim_cn

            def log_since_mark() -> str:
                return run.broker_log.read_bytes()[mark:].decode(errors="replace")

            async def reloaded() -> bool | None:
                return True if "Reloading config." in log_since_mark() else None

            await until("the broker to reload the new CRL", reloaded, 20, run.diagnostics)
            # Power-cycle the revoked device (its web server), so it connects again.
            async with http.get(f"http://{victim_ip}/cm", params={"cmnd": "Restart 1"}) as r:
                assert r.status == 200

            async def refused() -> bool | None:
                log = log_since_mark()
                attempts = re.findall(
                    rf"New connection from {re.escape(victim_ip)}:\d+ on port {tls_port}\.", log
                )
                return True if len(attempts) >= 2 else None  # refused, and tried again

            await until("the revoked device to try again", refused, 40, run.diagnostics)
            log = log_since_mark()
            assert not re.search(rf"New client connected from {re.escape(victim_ip)}:", log), log
            assert "certificate verify failed" in log, log  # refused in the TLS handshake
            for other in status.values():
                if other != victim_status:
                    assert (await states())[other]["state"] == "connected_tls"
            for cn, (_, client_id) in sessions.items():
                if cn != victim_cn:
                    assert not re.search(disconnected_line(re.escape(client_id)), log)
            assert (await states())[victim_status]["state"] != "connected_tls"

            # Nothing of ours talked to anything but loopback.
            pids = [pid for pid, _ in processes_mentioning(str(tmp_path))]
            assert foreign_connections(pids) == []

        children = list(run.info["children"].values())
        assert await run.stop() == 0, run.diagnostics()
        assert "Stopped" in run.output_text()
        assert processes_mentioning(str(tmp_path)) == []
        assert not any(pid_alive(pid) for pid in children)
