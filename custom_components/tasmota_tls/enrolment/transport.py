"""How the engine reaches a device: Tasmota's HTTP /cm and the MQTT broker.

The engine sees only this protocol, so it runs inside Home Assistant
(ha_transport) and outside it (the tests' plain_transport) unchanged.

A command sent over HTTP may carry a private key in its query string: a URL built
here must never be logged or put into an exception.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

WEB_USERNAME = "admin"  # Tasmota's fixed web user name


@dataclass(frozen=True)
class MqttMessage:
    """One received MQTT message; ``retain`` is True only for a replayed retained one."""

    topic: str
    payload: str
    retain: bool

    def __repr__(self) -> str:  # payloads may echo commands: keep them out of reprs
        return f"MqttMessage(topic={self.topic!r}, retain={self.retain}, {len(self.payload)} chars)"


TransportErrorKind = Literal["unreachable", "timeout", "auth", "bad_reply", "mqtt"]


class TransportError(Exception):
    """The device or broker could not be reached or answered nonsense.

    The message names the host and the kind of failure, never the URL or payload.
    """

    def __init__(self, kind: TransportErrorKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class Transport(Protocol):
    """What the enrolment engine needs from the outside world."""

    async def http_command(
        self,
        ip: str,
        port: int,
        command: str,
        password: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Run ``command`` through GET /cm on the device and return its JSON reply.

        Raises TransportError("unreachable" | "timeout" | "auth" | "bad_reply").
        """
        ...

    async def publish(self, topic: str, payload: str) -> None:
        """Publish with QoS 0, never retained. Raises TransportError("mqtt")."""
        ...

    def listen(self, topic_filter: str) -> AbstractAsyncContextManager[asyncio.Queue[MqttMessage]]:
        """Subscribe to ``topic_filter`` (wildcards allowed) for the duration of the block.

        The subscription is in place when the block starts, so a command published
        inside the block cannot have its reply missed.
        """
        ...


def cm_url(ip: str, port: int, command: str, password: str | None) -> str:
    """The /cm URL for ``command``, fully percent-encoded (``+ / =`` included).

    Tasmota's web server decodes ``+`` as a space, so base64 must be encoded
    completely. Secret-bearing: never log the result.
    """
    host = f"[{ip}]" if ":" in ip else ip
    query = ""
    if password is not None:
        query = f"user={WEB_USERNAME}&password={quote(password, safe='')}&"
    return f"http://{host}:{port}/cm?{query}cmnd={quote(command, safe='')}"


def parse_cm_reply(status: int, body: str, ip: str) -> dict[str, Any]:
    """Interpret a /cm answer: JSON object, or TransportError."""
    if status == 401:
        raise TransportError("auth", f"device {ip} refused the web password")
    if status != 200:
        raise TransportError("bad_reply", f"device {ip} answered HTTP {status}")
    try:
        reply = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):  # JSONDecodeError, huge numbers, deep nesting
        raise TransportError("bad_reply", f"device {ip} answered with non-JSON") from None
    if not isinstance(reply, dict):
        raise TransportError("bad_reply", f"device {ip} answered with a non-object")
    warning = reply.get("WARNING")
    if isinstance(warning, str) and "password" in warning.lower():
        raise TransportError("auth", f"device {ip} needs the correct web password")
    return reply


def decode_json_object(payload: str) -> dict[str, Any] | None:
    """The payload as a JSON object, or None (plain-text replies like POWER's "ON")."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):  # JSONDecodeError, huge numbers, deep nesting
        return None
    return value if isinstance(value, dict) else None
