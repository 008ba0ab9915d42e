"""A signal for "something about the device changed", so that waiters re-check their condition."""

from __future__ import annotations

import asyncio


class Changes:
    """Every notify() wakes everyone waiting at that moment; later waiters wait for the next."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        await self._event.wait()
