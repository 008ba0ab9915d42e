"""The device's web API: GET /cm?cmnd=..., answered like xdrv_01_9_webserver's HandleHttpCommand.

A command of MQTT_MAX_PACKET_SIZE (1200) characters or more is refused with the
firmware's warning, as is a missing or wrong user/password when a web password is
set. The answer merges the JSON of every reply, as the web console's log collection does.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from .command_base import Reply
from .firmware import MQTT_MAX_PACKET_SIZE
from .settings import DeviceSettings

WEB_USERNAME = "admin"
NEED_USER_AND_PASSWORD = {"WARNING": "Need user=<username>&password=<password>"}
ENTER_COMMAND = {"WARNING": "Enter command cmnd="}


class WebHost(Protocol):
    """What the web API reads and calls on a device."""

    settings: DeviceSettings

    def log(self, message: str) -> None: ...

    async def http_command(self, text: str) -> list[Reply]: ...


def merge_replies(payloads: list[str]) -> str:
    """Join several JSON objects into one, as the firmware does with "}{" -> ","."""
    merged: dict[str, Any] = {}
    for text in payloads:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict):
            merged.update(data)
    return json.dumps(merged, separators=(",", ":"), ensure_ascii=False)


class HttpServer:
    """One aiohttp site bound to the device's own loopback address."""

    def __init__(self, device: WebHost, ip: str, port: int) -> None:
        self._device = device
        self._ip = ip
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/cm", self._handle_cm)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._ip, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle_cm(self, request: web.Request) -> web.Response:
        password = self._device.settings.web_password
        if password and not (
            request.query.get("user", "") == WEB_USERNAME
            and request.query.get("password", "") == password
        ):
            return web.json_response(NEED_USER_AND_PASSWORD, status=401)
        command = request.query.get("cmnd", "")
        if not command or len(command) >= MQTT_MAX_PACKET_SIZE:
            if command:
                limit = MQTT_MAX_PACKET_SIZE - 1
                self._device.log(
                    f"HTP: Refused a command of {len(command)} characters (limit {limit})"
                )
            return web.json_response(ENTER_COMMAND)
        replies = await self._device.http_command(command)
        body = merge_replies([reply.payload for reply in replies]) if replies else "{}"
        return web.Response(text=body, content_type="application/json")
