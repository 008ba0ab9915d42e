"""A small client for Home Assistant's own HTTP and WebSocket API.

Onboarding, the login flow and tokens go through the same endpoints the frontend
uses; everything else through the REST and WebSocket APIs with the access token.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp


class HaApiError(RuntimeError):
    """Home Assistant answered with an error."""


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    name: str = "Owner"


class HomeAssistantApi:
    """One Home Assistant on loopback; use as ``async with HomeAssistantApi(url) as api``."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = self.base_url + "/"  # the frontend's client id
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> HomeAssistantApi:
        self.session = aiohttp.ClientSession(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    # ---- plumbing ------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        assert self.session is not None, "use the client as an async context manager"
        async with self.session.request(
            method,
            self.base_url + path,
            json=json_body,
            data=form,
            headers=self._headers() if auth else {},
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise HaApiError(f"{method} {path}: HTTP {response.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def text(self, path: str) -> str:
        """A page as the browser gets it (no token: the frontend's panels are public HTML)."""
        assert self.session is not None, "use the client as an async context manager"
        async with self.session.get(self.base_url + path) as response:
            text = await response.text()
            if response.status >= 400:
                raise HaApiError(f"GET {path}: HTTP {response.status}: {text[:200]}")
            return text

    async def wait_until_up(
        self,
        timeout: float = 60.0,  # noqa: ASYNC109
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """Until the HTTP server answers: the auth API's provider list (200 once onboarded,
        400 "onboarding_required" before)."""
        assert self.session is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self.session.get(self.base_url + "/auth/providers") as response:
                    if response.status in (200, 400):
                        return
                    raise HaApiError(f"/auth/providers: HTTP {response.status}")
            except (aiohttp.ClientError, HaApiError, TimeoutError) as err:
                if not alive():
                    raise RuntimeError("Home Assistant exited while starting") from err
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Home Assistant not answering: {err}") from err
            await asyncio.sleep(0.25)

    # ---- onboarding and login ------------------------------------------------------
    async def onboarding_steps(self) -> dict[str, bool]:
        """Onboarding steps and whether each is done; empty once onboarding is over."""
        assert self.session is not None
        async with self.session.get(self.base_url + "/api/onboarding") as response:
            if response.status == 404:  # the views are gone once every step is done
                return {}
            response.raise_for_status()
            steps = await response.json()
        return {step["step"]: step["done"] for step in steps}

    async def onboard(self, login: Login, language: str = "en") -> None:
        """Every onboarding step, as the frontend does it; leaves us logged in."""
        steps = await self.onboarding_steps()
        if not steps:  # onboarded before
            await self.login(login)
            return
        if not steps.get("user"):
            reply = await self.request(
                "POST",
                "/api/onboarding/users",
                json_body={
                    "client_id": self.client_id,
                    "name": login.name,
                    "username": login.username,
                    "password": login.password,
                    "language": language,
                },
                auth=False,
            )
            await self.exchange_code(reply["auth_code"])
        else:
            await self.login(login)
        if not steps.get("core_config"):
            await self.request("POST", "/api/onboarding/core_config", json_body={})
        if not steps.get("analytics"):
            await self.request("POST", "/api/onboarding/analytics", json_body={})
        if not steps.get("integration"):
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json_body={"client_id": self.client_id, "redirect_uri": self.redirect_uri},
            )

    @property
    def redirect_uri(self) -> str:
        return self.client_id + "?auth_callback=1"

    async def authorization_code(self, login: Login) -> str:
        """The login flow of the auth API; returns an authorization code."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.redirect_uri,
            },
            auth=False,
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json_body={
                "client_id": self.client_id,
                "username": login.username,
                "password": login.password,
            },
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HaApiError(f"login refused: {result.get('errors')}")
        return str(result["result"])

    async def exchange_code(self, code: str) -> None:
        tokens = await self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            auth=False,
        )
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]

    async def login(self, login: Login) -> None:
        await self.exchange_code(await self.authorization_code(login))

    def frontend_login_url(self, path: str, code: str) -> str:
        """A frontend URL that logs in with ``code`` and then shows ``path``.

        It is where the login form sends the browser; ``storeToken`` is its "keep me
        logged in", so later page loads stay logged in.
        """
        state = json.dumps({"hassUrl": self.base_url, "clientId": self.client_id})
        query = urlencode(
            {
                "auth_callback": "1",
                "code": code,
                "state": base64.b64encode(state.encode()).decode(),
                "storeToken": "true",
            }
        )
        return f"{self.base_url}{path}?{query}"

    # ---- REST ------------------------------------------------------------------------
    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        result = await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(result)

    async def flow(self, handler: str, *steps: dict[str, Any]) -> dict[str, Any]:
        """Run a config flow through its steps; menus take ``{"next_step_id": ...}``."""
        result = await self.request(
            "POST", "/api/config/config_entries/flow", json_body={"handler": handler}
        )
        for step in steps:
            if result["type"] in ("create_entry", "abort"):
                break
            result = await self.request(
                "POST", f"/api/config/config_entries/flow/{result['flow_id']}", json_body=step
            )
        return dict(result)

    async def call_service(
        self, domain: str, service: str, data: dict[str, Any], *, response: bool = False
    ) -> Any:
        suffix = "?return_response" if response else ""
        return await self.request(
            "POST", f"/api/services/{domain}/{service}{suffix}", json_body=data
        )

    async def states(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/api/states"))

    # ---- WebSocket -------------------------------------------------------------------
    async def ws(self, command: str, **fields: Any) -> Any:
        """One WebSocket command on a fresh connection; returns its result."""
        assert self.session is not None
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with self.session.ws_connect(url) as socket:
            hello = await socket.receive_json()
            if hello.get("type") != "auth_required":
                raise HaApiError(f"unexpected greeting {hello}")
            await socket.send_json({"type": "auth", "access_token": self.access_token})
            if (await socket.receive_json()).get("type") != "auth_ok":
                raise HaApiError("WebSocket login refused")
            await socket.send_json({"id": next(self._ids), "type": command, **fields})
            reply = await socket.receive_json()
        if not reply.get("success"):
            raise HaApiError(f"{command}: {reply.get('error')}")
        return reply.get("result")
