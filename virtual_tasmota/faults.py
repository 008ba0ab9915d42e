"""Fault knobs for tests: a device that misbehaves in the ways real ones do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DeviceFaults:
    """Settable per device at run time (device.faults = DeviceFaults(...)).

    drop_command_fraction: share of incoming MQTT commands ignored (lost messages).
    reply_delay: seconds before a command is executed and answered.
    offline_for: at start, stay powered off this many seconds before booting
        (see VirtualDevice.power_cycle for doing it later).
    reject_tls: every TLS handshake fails as if the firmware could not validate the
        broker (firmware built without the local CA): error 62, X509_NOT_TRUSTED.
    no_tlskey: a stock build without TLSKey: the command is unknown.
    no_time: no NTP answer: UtcTime() stays 0, so certificate dates are checked against the
        time saved with the settings (CfgTime()), which on a fresh flash is 1970: error 54.
    """

    drop_command_fraction: float = 0.0
    reply_delay: float = 0.0
    offline_for: float | None = None
    reject_tls: bool = False
    no_tlskey: bool = False
    no_time: bool = False
