"""How long a device takes for each step, in real seconds; the firmware's values by default."""

from __future__ import annotations

from dataclasses import dataclass

from .firmware import (
    BACKLOG_DELAY_SECONDS,
    BOOT_TO_MQTT_SECONDS,
    RESTART_FLAG_SECONDS,
    SHUTDOWN_SECONDS,
    TLS_HANDSHAKE_SECONDS,
)


@dataclass(frozen=True)
class Timing:
    """How long things take, in real seconds; the firmware's values are the defaults.

    retry_delay is what MqttRetry's default of 10 s lasts: the wait after the n-th failed
    attempt is retry_delay * MqttRetry/10 * n, growing while MqttRetry * n < 120, as
    MqttDisconnected() does. rule_timer_scale multiplies RuleTimer seconds, so that a
    300 s rollback timer can run in a test in a fraction of a second.
    """

    boot_delay: float = BOOT_TO_MQTT_SECONDS  # power on to the first MQTT attempt
    retry_delay: float = 10.0
    backlog_delay: float = BACKLOG_DELAY_SECONDS  # SetOption34
    # restart_flag counting down once the backlog is empty, then WifiShutdown()
    restart_delay: float = RESTART_FLAG_SECONDS + SHUTDOWN_SECONDS
    tls_handshake: float = TLS_HANDSHAKE_SECONDS  # BearSSL's arithmetic on the chip
    rule_timer_scale: float = 1.0
    discovery_delay: float = 0.0  # the firmware waits 10 s after boot, 1 s after a reconnect
    tele_period: float = 300.0  # TelePeriod: tele/<topic>/STATE, the first 5 s after connecting
    connect_timeout: float = 5.0


# The knob for tests: restarts in tens of milliseconds, so the suite does not wait for firmware.
FAST_TIMING = Timing(boot_delay=0.05, backlog_delay=0.01, restart_delay=0.05, tls_handshake=0.0)
