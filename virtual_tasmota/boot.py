"""What a device keeps in RAM for one boot, lost at each restart: the MQTT retry state, the
restart flag and the backlog (support_command.ino's CmndBacklog, support_tasmota.ino's
restart_flag)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .timing import Timing

CommandRunner = Callable[[str], Awaitable[None]]  # runs one command line, publishes its replies


@dataclass
class Boot:
    """One boot's RAM: Mqtt.* connection state, restart_flag and the backlog queue."""

    mqtt_tls: bool  # SetOption103 as read at boot (Mqtt.mqtt_tls)
    initial: bool = True  # no connection yet since boot (Mqtt.initial_connection_state)
    retry_counter_delay: int = 1
    restart_pending: bool = False
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)  # restart_flag set
    restart_event: asyncio.Event = field(default_factory=asyncio.Event)  # restart_flag ran out
    backlog: deque[tuple[str, bool]] = field(default_factory=deque)
    backlog_wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def request_restart(self) -> None:
        """Set restart_flag; it counts down once the backlog is empty (run_backlog)."""
        self.restart_pending = True
        self.restart_requested.set()
        self.backlog_wakeup.set()

    def queue_backlog(self, commands: list[str], *, nodelay: bool) -> None:
        for command in commands:
            self.backlog.append((command, nodelay))
        self.backlog_wakeup.set()

    def clear_backlog(self) -> bool:
        """Empty the backlog; True when it was empty already ("Empty" rather than "Aborted")."""
        was_empty = not self.backlog
        self.backlog.clear()
        return was_empty

    async def sleep_unless_restart(self, seconds: float) -> None:
        """Wait seconds, or less when the restart flag gets set meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.restart_requested.wait()

    async def run_backlog(self, run: CommandRunner, timing: Timing) -> None:
        """Run queued commands one by one (SetOption34 apart unless Backlog0), then, once the
        backlog is empty and a restart is pending, let restart_flag run out (restart_event)."""
        while True:
            if self.backlog:
                command, nodelay = self.backlog.popleft()
                await run(command)
                if not nodelay:
                    await asyncio.sleep(timing.backlog_delay)
            elif self.restart_pending:
                # The restart flag counts down only while the backlog is empty. Settings are
                # on disk already, as SettingsSaveAll() leaves them before EspRestart().
                await asyncio.sleep(timing.restart_delay)
                if not self.backlog:
                    self.restart_event.set()
                    return
            else:
                self.backlog_wakeup.clear()
                await self.backlog_wakeup.wait()
