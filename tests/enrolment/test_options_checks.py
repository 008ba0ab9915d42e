"""EnrolmentOptions refuses every value the firmware or the engine could not use."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import EnrolmentOptions

FINGERPRINT = " ".join(["AB"] * 20)
VALID: dict[str, Any] = {"broker_host": "mqtt.home.lan", "fingerprint": FINGERPRINT}


def test_the_valid_base_is_accepted() -> None:
    options = EnrolmentOptions(**VALID)
    assert options.rollback_seconds == 300
    assert options.online_timeout == 300 + 2 * options.step_timeout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mqtt_user": "dev1"}, "go together"),
        ({"mqtt_user": "dev 1", "mqtt_password": "x"}, "1-32 characters"),
        ({"mqtt_user": "dev1", "mqtt_password": "a;b"}, "1-32 characters"),
        ({"mqtt_user": "d" * 33, "mqtt_password": "x"}, "1-32 characters"),
        ({"broker_host": "bad host;"}, "host name or IP"),
        ({"broker_port": 0}, "ports"),
        ({"http_port": 65536}, "ports"),
        ({"validation": "none"}, "validation must be"),
        ({"fingerprint": None}, "needs the broker's fingerprint"),
        ({"fingerprint": "AB CD"}, "20 hex bytes"),
        ({"next_fingerprint": "zz " * 20}, "20 hex bytes"),
        ({"channel": "serial"}, "channel must be"),
        ({"web_password": ""}, "non-empty single line"),
        ({"web_password": "a\nb"}, "non-empty single line"),
        ({"rollback_minutes": 0}, "at least 1"),
        ({"rule_slot": 0}, "rule_slot"),
        ({"rule_timer": 99}, "rule_timer"),
        ({"step_timeout": 0}, "positive"),
        ({"poll_interval": -1}, "positive"),
    ],
)
def test_a_value_the_device_cannot_use_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnrolmentOptions(**{**VALID, **change})


def test_an_explicit_online_timeout_wins() -> None:
    assert EnrolmentOptions(**VALID, wait_online_timeout=12.5).online_timeout == 12.5
