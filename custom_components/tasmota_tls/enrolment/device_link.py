"""Commands to one device over the chosen channel, and their replies.

HTTP /cm answers in its body. Over MQTT the command goes to
``<cmnd topic>/<Command>`` and the reply comes on a stat topic (RESULT, or the
command's own name with SetOption4, or STATUS6 for ``Status 6``), so we listen
on the stat prefix with a wildcard and pick the reply by its JSON key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from .model import EnrolmentError, EnrolmentOptions, EnrolmentStep
from .transport import Transport, TransportError, decode_json_object

if TYPE_CHECKING:
    from ..discovery import TasmotaDevice

_LOGGER = logging.getLogger(__name__)

_TRANSPORT_REASONS = {
    "unreachable": "http_unreachable",
    "timeout": "timeout",
    "auth": "auth_failed",
    "bad_reply": "command_error",
    "mqtt": "mqtt_unavailable",
}


def command_name(command: str) -> str:
    """``"TLSKey1 abc"`` -> ``"TLSKey1"`` (safe to log, unlike the whole command)."""
    return command.split(" ", 1)[0]


def reply_value(reply: dict[str, Any], key: str) -> Any:
    """Value under ``key`` compared case-insensitively, as Tasmota's JSON keys vary."""
    wanted = key.lower()
    for name, value in reply.items():
        if name.lower() == wanted:
            return value
    return None


def error_reply(reply: dict[str, Any]) -> str | None:
    """ "Unknown" or "Error" when the firmware refused the command, else None."""
    value = reply_value(reply, "Command")
    return value if isinstance(value, str) else None


class DeviceLink:
    """Sends commands to one device and returns the JSON replies."""

    def __init__(
        self, transport: Transport, device: TasmotaDevice, options: EnrolmentOptions
    ) -> None:
        self._transport = transport
        self._device = device
        self._options = options

    @property
    def device(self) -> TasmotaDevice:
        return self._device

    @property
    def reply_filter(self) -> str:
        """Every stat topic of the device: replies arrive on RESULT, STATUS<n> or <Command>."""
        return self._device.stat_topic("+")

    @property
    def status6_topic(self) -> str:
        """Where the device answers ``Status 6``, whatever SetOption4 says (STATUS6).

        A topic without wildcards: Home Assistant's MQTT client finds its subscribers by
        a dictionary lookup, while every wildcard subscription is matched against every
        message it receives. Watches of a fleet enrolling at once would add one each.
        """
        return self._device.stat_topic("STATUS6")

    async def command(
        self,
        command: str,
        step: EnrolmentStep,
        reply_key: str | None,
        *,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """Run ``command``; with ``reply_key`` wait for the reply carrying that key.

        A reply {"Command": "Unknown"|"Error"} is returned as is; the caller decides.
        Without ``reply_key`` (Backlog) the command is only delivered.
        """
        channel = channel or self._options.channel
        _LOGGER.debug("%s: %s over %s", self._device.mac, command_name(command), channel)
        try:
            if channel == "http":
                return await self._transport.http_command(
                    self._device.ip,
                    self._options.http_port,
                    command,
                    self._options.web_password,
                    self._options.step_timeout,
                )
            return await self._mqtt_command(command, step, reply_key)
        except TransportError as err:
            raise EnrolmentError(step, _TRANSPORT_REASONS[err.kind], str(err)) from None

    async def _mqtt_command(
        self, command: str, step: EnrolmentStep, reply_key: str | None
    ) -> dict[str, Any]:
        name, _, payload = command.partition(" ")
        topic = self._device.command_topic(name)
        if reply_key is None:
            await self._transport.publish(topic, payload)
            return {}
        async with self._transport.listen(self.reply_filter) as queue:
            await self._transport.publish(topic, payload)
            reply = await self.wait_reply(queue, reply_key, self._options.step_timeout)
        if reply is None:
            raise EnrolmentError(step, "timeout", f"no reply to {name} within the step timeout")
        return reply

    @staticmethod
    async def wait_reply(
        queue: asyncio.Queue[Any], reply_key: str, seconds: float
    ) -> dict[str, Any] | None:
        """The first JSON reply with ``reply_key`` (or a Command error) within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return None
            reply = decode_json_object(message.payload)
            if reply is None:
                continue
            if reply_value(reply, reply_key) is not None or error_reply(reply) is not None:
                return reply
        return None
