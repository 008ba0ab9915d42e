"""Running rules (xdrv_10_rules.ino's RulesProcessEvent): events matched against the rule sets
in flash, Once and Break honoured, RuleTimer<n> counting down in RAM."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from .cmnd_rules import MAX_RULE_TIMERS
from .command_base import redact
from .rules import parse_rule_set, split_trigger, substitute, trigger_matches
from .settings import DeviceSettings


class RuleHost(Protocol):
    """What the rule engine reads and calls on a device."""

    settings: DeviceSettings

    @property
    def topic(self) -> str: ...

    def log(self, message: str) -> None: ...

    async def run_commands(self, text: str) -> None:
        """Execute a command line and publish its replies."""
        ...

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Track a task of the current boot so that a restart or stop cancels it."""
        ...


class RuleEngine:
    """The rules' RAM for one boot: which Once triggers fired, which timers run."""

    def __init__(self, host: RuleHost, timer_scale: float) -> None:
        self._host = host
        self._timer_scale = timer_scale
        self._once_fired: set[tuple[int, int, str]] = set()  # Rules.triggers
        self._timers: dict[int, tuple[float, asyncio.Task[None]]] = {}

    async def fire(self, event: str, value: str | None = None) -> None:
        host = self._host
        s = host.settings
        for i, text in enumerate(s.rules):
            if not text or not s.rule_enabled[i]:
                continue
            for n, block in enumerate(parse_rule_set(text)):
                if split_trigger(block.trigger)[0].upper() != event.upper():
                    continue
                matched = trigger_matches(block.trigger, event, value)
                if s.rule_once[i]:
                    # Once ON: fire when the trigger starts to match, not again until it stops.
                    key = (i, n, text)
                    fired_before = key in self._once_fired
                    if matched:
                        self._once_fired.add(key)
                    else:
                        self._once_fired.discard(key)
                    matched = matched and not fired_before
                if matched:
                    commands = substitute(block.commands, value or "", host.topic)
                    host.log(f"RUL: {block.trigger} performs '{redact(commands)}'")
                    await host.run_commands(commands)
                    if block.is_break:
                        break

    def set_timer(self, index: int, seconds: float) -> None:
        """RuleTimer<index> <seconds>: 0 stops it; Rules#Timer=<index> fires when it runs out."""
        old = self._timers.pop(index, None)
        if old is not None:
            old[1].cancel()
        if seconds > 0:
            real = seconds * self._timer_scale
            task = asyncio.create_task(self._run_timer(index, real))
            self._timers[index] = (time.monotonic() + real, task)
            self._host.keep_task(task)

    def timers_left(self) -> list[int]:
        """Seconds left on each timer, in the device's (unscaled) seconds."""
        now = time.monotonic()
        scale = self._timer_scale or 1.0
        left = [0] * MAX_RULE_TIMERS
        for index, (deadline, _) in self._timers.items():
            left[index - 1] = max(0, int((deadline - now) / scale))
        return left

    async def _run_timer(self, index: int, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._timers.pop(index, None)
        await self.fire("Rules#Timer", str(index))
