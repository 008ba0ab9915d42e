"""Headless Debian chromium driven over the DevTools protocol (no extra packages).

Chromium is installed by scripts/setup with TASMOTA_TLS_WITH_BROWSER=1, only for the
tests that need it. It runs with every background service off and a host resolver that
knows no names, so the only place it can reach is the loopback URL it is given.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
# Text of the page including every shadow root (Home Assistant's frontend is web components).
DEEP_TEXT_JS = """
(() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else if (!["STYLE", "SCRIPT"].includes(child.nodeName)) walk(child);
    }
  };
  walk(document.documentElement);
  return parts.join(" ").replace(/\\s+/g, " ");
})()
"""


def ensure_chromium() -> None:
    """Install Debian's chromium through scripts/setup when it is missing."""
    if CHROMIUM.exists():
        return
    env = {**os.environ, "TASMOTA_TLS_WITH_BROWSER": "1"}
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "setup")],
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    assert CHROMIUM.exists(), (
        "scripts/setup could not install chromium:\n"
        + result.stdout.decode()[-2000:]
        + result.stderr.decode()[-2000:]
    )


class Browser:
    """One headless chromium with a single page; ``async with Browser(dir) as page``."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        self.profile = profile
        self.width, self.height = width, height
        self.process: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        with (self.profile.parent / "chromium.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(CHROMIUM),
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            port = await self._debugging_port()
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t["type"] == "page")
            self.socket = await self.session.ws_connect(
                page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024
            )
            await self.send("Page.enable")
            await self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=self.height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.session is not None:
            await self.session.close()
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # helpers of the group

    async def _debugging_port(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Chromium writes the port it chose into the profile folder."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.exists() and (text := marker.read_text().split()):
                return int(text[0])
            assert self.process is not None and self.process.returncode is None, "chromium exited"
            await asyncio.sleep(0.1)
        raise AssertionError("chromium did not open its DevTools port")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.socket is not None
        ident = next(self._ids)
        await self.socket.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.socket.receive(), 30)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"DevTools connection ended: {message.type}")
            reply = json.loads(message.data)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def text(self) -> str:
        result = await self.send("Runtime.evaluate", expression=DEEP_TEXT_JS, returnByValue=True)
        return str(result.get("result", {}).get("value", ""))

    async def wait_for_text(self, *needles: str, timeout: float = 60.0) -> str:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if all(needle in text for needle in needles):
                return text
            await asyncio.sleep(0.5)
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"page never showed {missing}; it shows:\n{text[:3000]}")

    async def screenshot(self) -> bytes:
        result = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])
