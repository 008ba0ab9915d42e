"""Engine timing for tests: the runtime is built with shorter waits than real devices need.

Production builds the runtime with the engine's defaults (runtime.build_runtime's
``timing``); tests replace the builder the integration calls by one that passes theirs.
"""

from __future__ import annotations

from functools import partial

import pytest

import custom_components.tasmota_tls as integration
from custom_components.tasmota_tls.runtime import build_runtime
from custom_components.tasmota_tls.settings import EngineTiming

# Played-back and virtual devices answer at once.
FAST_TIMING = EngineTiming(step_timeout=3.0, poll_interval=0.1, wait_online_timeout=5.0)
# Virtual devices on a real broker: bounded waits, the devices' rule timers run fast.
REAL_BROKER_TIMING = EngineTiming(step_timeout=5.0, poll_interval=0.2, wait_online_timeout=20.0)


def use_engine_timing(monkeypatch: pytest.MonkeyPatch, timing: EngineTiming) -> None:
    """Entries set up from now on run the engine with ``timing``."""
    monkeypatch.setattr(integration, "build_runtime", partial(build_runtime, timing=timing))
