"""The CA-machine suite: Debian's python3 and python3-cryptography, nothing else.

scripts/test-ca-machine runs it with Debian's pytest and without tests/conftest.py
(Home Assistant's test plugins are not there). It also runs inside the main suite.
"""

from __future__ import annotations

import os
import sys

import cryptography

from tests.helpers.mosquitto import mosquitto_factory  # noqa: F401 (the fixture)


def pytest_report_header() -> list[str]:
    return [
        f"CA machine: Python {sys.version.split()[0]} ({sys.executable}), "
        f"cryptography {cryptography.__version__} ({os.path.dirname(cryptography.__file__)})"
    ]
