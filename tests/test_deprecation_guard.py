"""The suite-wide guard against deprecated Home Assistant use catches what it should."""

from __future__ import annotations

import logging

from tests.helpers.deprecations import DeprecationRecorder, is_our_deprecation


def record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def test_home_assistants_report_about_us_is_caught() -> None:
    # The wording of homeassistant.helpers.frame for a custom integration.
    report = record(
        "homeassistant.helpers.frame",
        "Detected that custom integration 'tasmota_tls' calls "
        "`device_registry.async_get_device`, which is deprecated because device "
        "identifiers and connections are no longer unique across config entries",
    )
    assert is_our_deprecation(report)
    recorder = DeprecationRecorder()
    recorder.emit(report)
    assert len(recorder.found) == 1


def test_our_own_logger_mentioning_a_deprecation_is_caught() -> None:
    assert is_our_deprecation(record("custom_components.tasmota_tls.manager", "x is deprecated"))


def test_other_integrations_and_other_lines_pass() -> None:
    assert not is_our_deprecation(
        record(
            "homeassistant.helpers.frame",
            "Detected that custom integration 'other' uses something deprecated",
        )
    )
    assert not is_our_deprecation(record("custom_components.tasmota_tls.manager", "enrolled"))
