"""A few operations at a time: enrolments mostly wait on devices restarting.

Each operation takes a ticket when it is asked for; a free slot goes to the waiting
operation with the lowest ticket. An operation restored after a reload takes its
ticket at set-up, in its old place, but waits for its device to announce itself
before it waits for a slot: a device that is slow to come back holds no slot.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Coroutine
from typing import Any

from homeassistant.core import callback

from ..const import DOMAIN
from ..device_state import Operation
from .context import OperationContext


class _Turns:
    """A semaphore that serves its waiters in ticket order rather than arrival order."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._next = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    def ticket(self) -> int:
        self._next += 1
        return self._next

    async def acquire(self, ticket: int, *, defer: bool = False) -> None:
        """A slot, when one is free and no lower ticket waits.

        ``defer`` grants it one loop turn later: operations woken together (their devices
        seen at set-up) all queue before the first gets its slot, so tickets decide.
        """
        if self._free > 0 and not self._waiting and not defer:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        heapq.heappush(self._waiting, (ticket, future))
        if defer:
            loop.call_soon(self._grant)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot came as the task was cancelled: pass it on
            raise

    def release(self) -> None:
        self._free += 1
        self._grant()

    def _grant(self) -> None:
        while self._free > 0 and self._waiting:
            _, future = heapq.heappop(self._waiting)
            if not future.done():  # a cancelled waiter is skipped
                self._free -= 1
                future.set_result(None)


class OperationSlots:
    """Runs each operation as one of the entry's background tasks, ``limit`` at a time."""

    def __init__(self, ctx: OperationContext, limit: int) -> None:
        """Slots for the entry's operations; the read model shows who waits."""
        self._ctx = ctx
        self._turns = _Turns(limit)

    def ticket(self) -> int:
        """A place in the queue, for an operation that is started later."""
        return self._turns.ticket()

    @callback
    def start(
        self,
        mac: str,
        operation: Operation,
        job: Coroutine[Any, Any, None],
        *,
        ready: Coroutine[Any, Any, bool] | None = None,
        ticket: int | None = None,
        journaled: bool = False,
    ) -> None:
        """Queue ``job``; it runs when a slot is free, and is cancelled with the entry.

        ``ready`` is awaited first, outside the slot; False drops the job. ``journaled``
        keeps the request in the journal until the job ends (not when the entry unloads:
        the next set-up queues it again).
        """
        ctx, view = self._ctx, self._ctx.view
        turn = self._turns.ticket() if ticket is None else ticket
        view.mark_queued(mac, operation)
        if journaled:
            self._save(ctx.journal.async_request(mac, operation))

        async def run() -> None:
            ended = False
            try:
                if ready is not None and not await ready:
                    job.close()
                    ended = True
                    return
                await self._turns.acquire(turn, defer=ready is not None)
                try:
                    view.mark_running(mac)
                    await job
                finally:
                    self._turns.release()
                ended = True
            except asyncio.CancelledError:
                job.close()  # never started, or stopped by the unload: kept for next time
                raise
            except Exception:
                ended = True
                raise
            finally:
                view.mark_done(mac)
                if journaled and ended:
                    self._save(ctx.journal.async_request_done(mac))

        ctx.entry.async_create_background_task(
            ctx.hass, run(), f"{DOMAIN} {operation} {mac}", eager_start=True
        )

    def _save(self, save: Coroutine[Any, Any, None]) -> None:
        # An entry task, not a background one: the unload waits for it instead of
        # cancelling it, so the next set-up reads what was saved.
        self._ctx.entry.async_create_task(self._ctx.hass, save, eager_start=True)
