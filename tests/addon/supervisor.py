"""A stand-in for the Supervisor's add-on API, driving a real Mosquitto as the add-on.

The one fake in these tests. It serves the endpoints Home Assistant's AddonManager calls
(store info, add-on info, options, restart, stats) the way the Supervisor does:
- a Bearer token is required (401 otherwise);
- options are validated against the add-on's schema (config.yaml of add-on 7.1.0):
  a missing required option or a wrong type is refused with 400 and nothing is stored,
  options the schema does not know are dropped (the Supervisor logs and ignores them);
- info returns the defaults merged with the stored options, passwords included;
- a change takes effect only at the next restart: the "add-on" renders its Mosquitto
  configuration from the options at start (addon_mosquitto.py), as its init script does;
- a failing restart can be asked for (``fail_restart``: 400, nothing restarted).

What it does not reproduce: the hassio integration is not set up on it (conftest.py marks
it loaded and points the Supervisor client here), so there is no MQTT discovery from the
add-on, no add-on update entities or panel; no install, update, start, stop, logs or
backup endpoints; the schema check covers presence and types, not value formats (the
``password`` type, the words log_dest and log_type accept); the add-on's state is only
"started" or "stopped" (the Supervisor also knows "startup" and "error").
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from aiohttp import web

from .addon_mosquitto import AddonMosquitto

SLUG = "core_mosquitto"
VERSION = "7.1.0"
TOKEN = "fake-supervisor-token"
DEFAULTS: dict[str, Any] = {
    "logins": [],
    "log_dest": [],
    "log_type": [],
    "require_certificate": False,
    "certfile": "fullchain.pem",
    "keyfile": "privkey.pem",
    "customize": {"active": False, "folder": "mosquitto"},
}
# (type, required) per top-level option, and per login field.
SCHEMA: dict[str, tuple[type, bool]] = {
    "logins": (list, True),
    "log_dest": (list, False),
    "log_type": (list, False),
    "require_certificate": (bool, True),
    "certfile": (str, True),
    "cafile": (str, False),
    "keyfile": (str, True),
    "customize": (dict, True),
    "debug": (bool, False),
}
LOGIN_SCHEMA: dict[str, tuple[type, bool]] = {
    "username": (str, True),
    "password": (str, True),
    "password_pre_hashed": (bool, False),
}


class InvalidOptions(ValueError):
    pass


def _check(struct: dict[str, Any], schema: dict[str, tuple[type, bool]], where: str) -> dict:
    valid: dict[str, Any] = {}
    for key, (kind, required) in schema.items():
        if key not in struct:
            if required:
                raise InvalidOptions(f"Missing option '{key}' in {where} in Mosquitto broker")
            continue
        value = struct[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InvalidOptions(f"Invalid value for option '{key}' in {where}")
        valid[key] = value
    return valid  # keys the schema does not know are dropped, as the Supervisor does


def validate(options: dict[str, Any]) -> dict[str, Any]:
    valid = _check(options, SCHEMA, "root")
    valid["logins"] = [_check(item, LOGIN_SCHEMA, "logins") if isinstance(item, dict)
                       else _raise("logins") for item in valid["logins"]]  # fmt: skip
    customize = _check(valid["customize"], {"active": (bool, True), "folder": (str, True)},
                       "customize")  # fmt: skip
    valid["customize"] = customize
    return valid


def _raise(where: str) -> dict:
    raise InvalidOptions(f"Invalid value in {where}")


def _ok(data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"result": "ok", "data": data or {}})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"result": "error", "message": message}, status=status)


class FakeSupervisor:
    """The HTTP API on 127.0.0.1; ``addon`` is the Mosquitto it starts and restarts."""

    def __init__(self, addon: AddonMosquitto, *, installed: bool = True) -> None:
        self.addon = addon
        self.installed = installed
        self.stored: dict[str, Any] = {}  # what POST options stored (validated)
        self.calls: list[tuple[str, str]] = []
        self.restarts = 0
        self.fail_restart = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def options(self) -> dict[str, Any]:
        return {**copy.deepcopy(DEFAULTS), **copy.deepcopy(self.stored)}

    # ---- HTTP ------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "Unauthorized")
        return await handler(request)

    def _addon_fields(self) -> dict[str, Any]:
        return {
            "advanced": False, "available": True, "build": False,
            "description": "An Open Source MQTT broker", "homeassistant": None, "icon": True,
            "logo": True, "name": "Mosquitto broker", "repository": "core", "slug": SLUG,
            "stage": "stable", "update_available": False,
            "url": "https://github.com/home-assistant/addons/tree/master/mosquitto",
            "version_latest": VERSION, "version": VERSION if self.installed else None,
            "arch": ["aarch64", "amd64"], "documentation": True, "apparmor": "default",
            "auth_api": True, "docker_api": False, "full_access": False,
            "homeassistant_api": False, "host_network": False, "host_pid": False,
            "ingress": False, "long_description": None, "rating": 6, "signed": False,
            "hassio_api": False, "hassio_role": "default", "detached": False,
        }  # fmt: skip

    async def store_info(self, request: web.Request) -> web.Response:
        if request.match_info["slug"] != SLUG:
            return _error(404, "Addon does not exist")
        return _ok({**self._addon_fields(), "installed": self.installed})

    async def info(self, request: web.Request) -> web.Response:
        if request.match_info["slug"] != SLUG or not self.installed:
            return _error(404, "Addon is not installed")
        ports = {"1883/tcp": 1883, "1884/tcp": 1884, "8883/tcp": 8883, "8884/tcp": 8884}
        return _ok({
            **self._addon_fields(), "state": "started" if self.addon.running else "stopped",
            "hostname": "127.0.0.1", "dns": ["core-mosquitto.local.hass.io"],
            "protected": True, "boot": "auto", "boot_config": "auto", "options": self.options,
            "schema": [], "machine": [], "network": ports, "network_description": {},
            "host_ipc": False, "host_uts": False, "host_dbus": False, "privileged": [],
            "changelog": True, "stdin": False, "gpio": False, "usb": False, "uart": False,
            "kernel_modules": False, "devicetree": False, "udev": False, "video": False,
            "audio": False, "startup": "system", "services": ["mqtt:provide"],
            "discovery": ["mqtt"], "translations": {}, "webui": None, "ingress_entry": None,
            "ingress_url": None, "ingress_port": None, "ingress_panel": None,
            "audio_input": None, "audio_output": None, "auto_update": False,
            "ip_address": "172.30.33.2", "watchdog": True, "devices": [],
            "system_managed": False, "system_managed_config_entry": None,
        })  # fmt: skip

    async def set_options(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "options" in body:
            if body["options"] is None:
                self.stored = {}  # the Supervisor resets to the defaults
            else:
                try:
                    self.stored = validate(body["options"])
                except InvalidOptions as err:
                    return _error(400, str(err))
        return _ok()

    async def restart(self, request: web.Request) -> web.Response:
        if self.fail_restart:
            return _error(400, "Can't start addon")
        self.restarts += 1
        await asyncio.get_running_loop().run_in_executor(None, self.addon.restart, self.options)
        return _ok()

    async def stats(self, request: web.Request) -> web.Response:
        return _ok({"cpu_percent": 0.1, "memory_usage": 1, "memory_limit": 2,
                    "memory_percent": 0.5, "network_rx": 0, "network_tx": 0, "blk_read": 0,
                    "blk_write": 0})  # fmt: skip

    async def start(self) -> FakeSupervisor:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/store/addons/{slug}", self.store_info)
        app.router.add_get("/addons/{slug}/info", self.info)
        app.router.add_post("/addons/{slug}/options", self.set_options)
        app.router.add_post("/addons/{slug}/restart", self.restart)
        app.router.add_get("/addons/{slug}/stats", self.stats)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
