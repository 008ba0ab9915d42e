"""After the switch: wait for the device's outcome, then finish, or undo and fail.

The device reports itself only over MQTT (its LWT and Status 6), so every wait
watches there until an outcome is clear or the online timeout passes (watch.py).
"""

from __future__ import annotations

import contextlib
import copy
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .ecdsa import unsupported_error
from .model import EnrolmentError, EnrolmentOptions, EnrolmentStep, utc_now
from .steps import disarm_with_retries
from .watch import Outcome, Watch, watch_device

if TYPE_CHECKING:
    from .rollback import PreviousSettings
    from .run import Run

Step = EnrolmentStep


async def outcome_of(run: Run, watching: Watch) -> Outcome:
    """Watch the device until the outcome is clear or the online timeout passes."""
    return await watch_device(run.transport, run.link, watching, run.options.online_timeout)


async def conclude(
    run: Run,
    previous: PreviousSettings,
    watching: Watch,
    switch_error: EnrolmentError | None,
) -> None:
    """Wait for the outcome of a switch, then finish, or undo and fail."""
    outcome = await outcome_of(run, watching)
    if outcome == Outcome.TLS:
        await finish(run, previous)
        return
    if outcome == Outcome.PREVIOUS:
        await disarm_with_retries(run, previous)
        if switch_error is not None:
            await run.fail(switch_error)
        if previous.ecdsa is not None:  # SetOption165 1 was part of the switch
            await run.fail(unsupported_error())
        await run.fail(
            EnrolmentError(
                Step.WAIT_ONLINE,
                "rolled_back",
                "the device did not connect over TLS and is back on its previous settings",
            )
        )
    await run.fail(
        EnrolmentError(
            Step.WAIT_ONLINE,
            "rollback_unconfirmed",
            "the device was seen neither on TLS nor back on its previous settings",
        )
    )


async def finish(run: Run, previous: PreviousSettings) -> None:
    """DISARM, then DONE; a disarm that keeps failing leaves the record at DISARM."""
    await run.enter(Step.DISARM)
    last = await disarm_with_retries(run, previous)
    if last is None:
        await run.enter(Step.DONE)
        return
    last.record = copy.deepcopy(run.record)  # left at DISARM: resume() retries
    raise last


async def reconnect(run: Run) -> None:
    """Restart the device so its next connection uses the new key; wait for TLS."""
    await run.link.command("Restart 1", Step.SWITCH, "Restart")
    run.record.switched_at = utc_now()
    await run.enter(Step.WAIT_ONLINE)
    if await outcome_of(run, Watch(run.options, None)) != Outcome.TLS:
        raise EnrolmentError(
            Step.WAIT_ONLINE, "timeout", "the device did not come back Online over TLS"
        )


def settled_at(options: EnrolmentOptions, switched_at: str | None) -> float:
    """Monotonic time by which a switch sent at ``switched_at`` has surely run."""
    settle = options.step_timeout
    if switched_at is not None:
        with contextlib.suppress(ValueError):
            age = (datetime.now(UTC) - datetime.fromisoformat(switched_at)).total_seconds()
            settle = max(0.0, settle - age)
    return time.monotonic() + settle


async def resume_renewal(run: Run) -> None:
    """A renewal restarted the device: it is done once the device is Online over TLS."""
    step = run.record.step
    if step in (Step.SWITCH, Step.WAIT_ONLINE):
        await run.enter(Step.WAIT_ONLINE)
        if await outcome_of(run, Watch(run.options, None, need_fresh_online=False)) == Outcome.TLS:
            await run.enter(Step.DONE)
            return
        raise EnrolmentError(step, "timeout", "the device is not Online over TLS")
    raise EnrolmentError(step, "interrupted", "renewal interrupted before the restart; renew again")
