"""The end-to-end tests run scripts/develop, whose demo restarts Mosquitto mid-setup.

Home Assistant 2026.8.3's MQTT client can lose its subscriptions after such a restart: its
resubscription raises ``KeyError: 'tasmota/discovery/+/config'`` in the subscription-id
generator (homeassistant/components/mqtt/models.py), so no discovery arrives and the demo
waits in vain (two of the four demo runs on it here; no run on 2026.10 showed it). These
tests therefore run on the current release only; the rest of the suite runs on both.
"""

from __future__ import annotations

import pytest
from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

FIRST_RELEASE_WITHOUT_THE_RESUBSCRIBE_ERROR = AwesomeVersion("2026.10.0")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if AwesomeVersion(HA_VERSION) >= FIRST_RELEASE_WITHOUT_THE_RESUBSCRIBE_ERROR:
        return
    skip = pytest.mark.skip(
        reason=f"Home Assistant {HA_VERSION} loses MQTT subscriptions after a broker restart"
    )
    for item in items:
        module = getattr(item, "module", None)  # test functions have one
        if module is not None and hasattr(module, "running_develop"):
            item.add_marker(skip)
