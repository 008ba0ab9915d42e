"""Child processes that cannot outlive us: own process group, stopped group-wide."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path

LOGGER = logging.getLogger("develop")
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """Runs in the child before exec: die with the parent, even if it is killed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One program in its own session; output appended to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: we stop it, not the terminal
                preexec_fn=_child_setup,  # before exec, in the child
                env=self.env,
                cwd=self.cwd,
            )
        LOGGER.debug("%s started (pid %d)", self.name, self.process.pid)

    def signal(self, sig: int) -> None:
        if self.running and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    async def stop(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """SIGTERM the whole group, wait, then SIGKILL what is left."""
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            LOGGER.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
        # Anything else left in the group (a grandchild) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
