"""Fail any test during which Home Assistant reports a deprecated use by our integration.

Home Assistant reports a custom integration's use of a deprecated API through
``homeassistant.helpers.frame.report_usage``, which only logs for custom integrations
("Detected that custom integration 'tasmota_tls' calls ..., which is deprecated ...").
Python-level ``DeprecationWarning``s raised from our modules are turned into errors by
the ``filterwarnings`` setting in pyproject.toml.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

OUR_PACKAGE = "custom_components.tasmota_tls"
OUR_DOMAIN = "tasmota_tls"


def is_our_deprecation(record: logging.LogRecord) -> bool:
    """A log line that reports a deprecated use by this integration."""
    message = record.getMessage()
    if "deprecat" not in message.lower():
        return False
    return record.name.startswith(OUR_PACKAGE) or f"integration '{OUR_DOMAIN}'" in message


class DeprecationRecorder(logging.Handler):
    """Keeps every record that reports a deprecated use by this integration."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if is_our_deprecation(record):
            self.found.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(autouse=True)
def no_deprecations_from_us() -> Iterator[None]:
    """Every test: no deprecation reported for our integration while it ran."""
    recorder = DeprecationRecorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    try:
        yield
    finally:
        root.removeHandler(recorder)
    if recorder.found:
        pytest.fail("deprecated use by tasmota_tls:\n" + "\n".join(recorder.found))
