"""What the scripted-firmware tests share: engine options, who the firmware accepts, the device."""

from __future__ import annotations

from custom_components.tasmota_tls.enrolment import EnrolmentOptions

from .helpers import Issued, device_for

BROKER = "127.0.0.1"
TLS_PORT = 8883
FINGERPRINT = " ".join(["AB"] * 20)
USER_RULE = "ON Power1#State DO Publish stat/plug/x %value% ENDON"
DEVICE = device_for("plug", "127.0.0.2")


def options(**changes: object) -> EnrolmentOptions:
    """Options for the scripted firmware: short timeouts, fingerprint mode."""
    values: dict[str, object] = {
        "broker_host": BROKER,
        "broker_port": TLS_PORT,
        "fingerprint": FINGERPRINT,
        "step_timeout": 2.0,
        "poll_interval": 0.05,
        "rollback_minutes": 1,
        "wait_online_timeout": 5.0,
    }
    values.update(changes)
    return EnrolmentOptions(**values)  # type: ignore[arg-type]


def tls_only(host: str, port: int, tls: bool) -> bool:
    return (port == TLS_PORT) == tls


def plain_only(host: str, port: int, tls: bool) -> bool:
    return not tls and port == 1883


def assert_no_secrets(issuer: Issued, *texts: str) -> None:
    for secret in issuer.secrets():
        for text in texts:
            assert secret not in text
