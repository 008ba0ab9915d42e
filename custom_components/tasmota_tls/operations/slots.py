"""A few operations at a time: enrolments mostly wait on devices restarting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from homeassistant.core import callback

from ..const import DOMAIN
from ..device_state import Operation
from .context import OperationContext


class OperationSlots:
    """Runs each operation as one of the entry's background tasks, ``limit`` at a time."""

    def __init__(self, ctx: OperationContext, limit: int) -> None:
        """Slots for the entry's operations; the read model shows who waits."""
        self._ctx = ctx
        self._semaphore = asyncio.Semaphore(limit)

    @callback
    def start(self, mac: str, operation: Operation, job: Awaitable[None]) -> None:
        """Queue ``job``; it runs when a slot is free, and is cancelled with the entry."""
        ctx, view = self._ctx, self._ctx.view
        view.mark_queued(mac, operation)

        async def run() -> None:
            try:
                async with self._semaphore:
                    view.mark_running(mac)
                    await job
            finally:
                view.mark_done(mac)

        ctx.entry.async_create_background_task(
            ctx.hass, run(), f"{DOMAIN} {operation} {mac}", eager_start=True
        )
