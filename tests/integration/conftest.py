"""Fixtures for the Home Assistant integration tests."""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/tasmota_tls."""


def discovery_config(
    mac: str = "A4CF12ABCDEF", ip: str = "127.0.0.2", topic: str = "plug_abcdef", **extra: Any
) -> dict[str, Any]:
    """A discovery config shaped like the one Tasmota 14 publishes."""
    config: dict[str, Any] = {
        "ip": ip,
        "dn": "Kitchen plug",
        "fn": ["Kitchen plug", None, None, None, None, None, None, None],
        "hn": f"{topic}-1234",
        "mac": mac,
        "md": "Sonoff Basic",
        "ty": 0,
        "if": 0,
        "ofln": "Offline",
        "onln": "Online",
        "state": ["OFF", "ON", "TOGGLE", "HOLD"],
        "sw": "14.5.0",
        "t": topic,
        "ft": "%prefix%/%topic%/",
        "tp": ["cmnd", "stat", "tele"],
        "rl": [1, 0, 0, 0, 0, 0, 0, 0],
        "swc": [-1] * 8,
        "swn": [None] * 8,
        "btn": [0, 0, 0, 0, 0, 0, 0, 0],
        "so": {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0},
        "lk": 0,
        "lt_st": 0,
        "bat": 0,
        "dslp": 0,
        "sho": [],
        "sht": [],
        "ver": 1,
    }
    config.update(extra)
    return config


def discovery_payload(**kwargs: Any) -> str:
    """The JSON text of :func:`discovery_config`."""
    return json.dumps(discovery_config(**kwargs))
