"""GET /cm with aiohttp, shared by both transports.

The URL carries the command (maybe a private key) and the web password: it is
built here, used once, and never logged or chained into an exception.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from .transport import TransportError, cm_url, parse_cm_reply


async def fetch_cm(
    session: aiohttp.ClientSession,
    ip: str,
    port: int,
    command: str,
    *,
    password: str | None,
    seconds: float,
) -> dict[str, Any]:
    """Run one command through the device's /cm endpoint; see Transport.http_command."""
    url = URL(cm_url(ip, port, command, password), encoded=True)
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=seconds), allow_redirects=False
        ) as response:
            body = await response.text(errors="replace")
            status = response.status
    except TimeoutError:
        raise TransportError("timeout", f"device {ip}:{port} did not answer in time") from None
    except aiohttp.ClientConnectionError:
        raise TransportError(
            "unreachable", f"device {ip}:{port} is unreachable over HTTP"
        ) from None
    except aiohttp.ClientError:
        raise TransportError("bad_reply", f"device {ip}:{port}: HTTP exchange failed") from None
    return parse_cm_reply(status, body, ip)
