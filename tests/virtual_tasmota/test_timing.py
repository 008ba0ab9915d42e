"""The simulator's default delays are the firmware's; the fast knob scales them all down."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtual_tasmota import FAST_TIMING, Fleet, Timing, firmware


def test_defaults_are_the_firmware_sums() -> None:
    timing = Timing()
    assert timing.boot_delay == pytest.approx(
        firmware.CHIP_BOOT_SECONDS
        + firmware.WIFI_BEGIN_SECONDS
        + firmware.WIFI_ASSOCIATE_SECONDS
        + firmware.MQTT_FIRST_ATTEMPT_SECONDS
    )
    assert timing.restart_delay == pytest.approx(
        firmware.RESTART_FLAG_SECONDS + firmware.SHUTDOWN_SECONDS
    )
    assert timing.backlog_delay == firmware.BACKLOG_DELAY_SECONDS == 0.2
    assert timing.tls_handshake == firmware.TLS_HANDSHAKE_SECONDS
    # A restart into TLS takes seconds on an ESP8266, not the half second it used to.
    assert timing.restart_delay + timing.boot_delay + timing.tls_handshake > 5


def test_fast_knob_is_fast() -> None:
    fast = FAST_TIMING
    assert fast.boot_delay + fast.restart_delay + fast.tls_handshake < 0.2


def test_fleet_scales_the_handshake_with_the_boot(tmp_path: Path) -> None:
    firmware_fleet = Fleet(broker_host="127.0.0.1", broker_port=1, state_dir=tmp_path / "a",
                           count=1)  # fmt: skip
    fast_fleet = Fleet(broker_host="127.0.0.1", broker_port=1, state_dir=tmp_path / "b", count=1,
                       boot_delay=0.05)  # fmt: skip
    assert firmware_fleet.devices[0].timing == Timing()
    handshake = fast_fleet.devices[0].timing.tls_handshake
    assert handshake == pytest.approx(0.05 * Timing().tls_handshake / Timing().boot_delay)
