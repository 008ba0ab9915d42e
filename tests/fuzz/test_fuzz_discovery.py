"""Hostile discovery payloads: parse_discovery_config returns a device or raises ValueError.

Anyone who can publish on the broker can publish ``tasmota/discovery/<MAC>/config``,
so the parser sees arbitrary text. Inputs are random texts and bytes, random JSON,
and near-valid configs: the simulator's own discovery payload with fields dropped,
retyped, enlarged or filled with hostile text (MQTT wildcards, placeholders,
unicode, addresses off this machine as plain data). Nothing here connects anywhere.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from custom_components.tasmota_tls.discovery import TasmotaDevice, parse_discovery_config
from tests.helpers.constants import MAC
from virtual_tasmota import VirtualDevice
from virtual_tasmota.payloads import discovery_config

from .settings import fuzz

FIELDS = ["ip", "dn", "hn", "mac", "md", "ofln", "onln", "sw", "t", "ft", "tp", "fn", "ver"]
WILDCARDS = ("+", "#", "\x00")  # not allowed in a topic to publish to


def _simulator_payload() -> dict[str, Any]:
    """What a virtual Tasmota publishes (it copies the firmware's xdrv_12_discovery)."""
    with tempfile.TemporaryDirectory() as directory:
        device = VirtualDevice(
            index=0,
            mac=MAC,
            ip="127.0.0.2",
            http_port=8080,
            state_path=Path(directory) / "device.json",
            broker_host="127.0.0.1",
            broker_port=1883,
        )
        return discovery_config(device)


BASE = _simulator_payload()

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "+",
        "#",
        "a/+/b",
        "a/#",
        "/",
        "//",
        "%prefix%",
        "%topic%",
        "%hostname%/%id%",
        "%prefix%/%topic%/%prefix%",
        "\x00",
        "caf\u00e9",
        "\ud7ff\ue000",
        "\U0001f4a1",
        "10.0.0.1",
        "192.168.1.20",
        "8.8.8.8",
        "::1",
        "fe80::1%eth0",
        "evil.example/cm?x=",
        "a@b",
        "a4:cf:12:ab:cd:ef",
        "a4-cf-12-ab-cd-ef",
        "A4CF12ABCDEG",
        "A4CF12ABCDEF0",
        "x" * 5000,
        "Backlog MqttHost 10.0.0.1",
    ]
)
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=40))
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    TEXT,
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
PREFIXES = st.one_of(
    st.lists(TEXT, min_size=0, max_size=4),
    JSON_VALUE,
)


@st.composite
def near_valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """The simulator's payload with a few fields dropped, retyped or made hostile."""
    config = json.loads(json.dumps(BASE))
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "text", "json", "prefixes"]))
        if action == "drop":
            config.pop(key, None)
        elif action == "text":
            config[key] = draw(TEXT)
        elif action == "prefixes":
            config["tp"] = draw(PREFIXES)
        else:
            config[key] = draw(JSON_VALUE)
    return config


def parse_or_reject(payload: str | bytes) -> TasmotaDevice | None:
    """The contract: a device, or ValueError; any other exception fails the test."""
    try:
        return parse_discovery_config(payload)
    except ValueError as err:
        assert str(err)
        return None


def check_device(device: TasmotaDevice) -> None:
    """What every accepted config must give the engine."""
    assert re.fullmatch(r"[0-9A-F]{12}", device.mac)
    ipaddress.ip_address(device.ip)  # an address, never a URL fragment for /cm
    assert device.topic and device.full_topic
    assert len(device.prefixes) == 3 and all(device.prefixes)
    for value in (
        device.ip,
        device.topic,
        device.full_topic,
        device.hostname,
        device.name,
        device.firmware,
        device.model,
        device.online_payload,
        device.offline_payload,
        *device.prefixes,
    ):
        assert isinstance(value, str)
    for topic in (device.command_topic("Status"), device.stat_topic("RESULT"), device.lwt_topic):
        assert isinstance(topic, str) and topic.split("/")[-1] in ("Status", "RESULT", "LWT")
        assert not any(mark in topic for mark in WILDCARDS), topic


# --------------------------------------------------------------------- the fuzz


@fuzz
@given(payload=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_text_or_bytes(payload: str | bytes) -> None:
    device = parse_or_reject(payload)
    if device is not None:
        check_device(device)


@fuzz
@given(value=JSON_VALUE)
def test_any_json(value: Any) -> None:
    device = parse_or_reject(json.dumps(value))
    if device is not None:
        check_device(device)


@fuzz
@given(config=near_valid_configs())
def test_near_valid_configs(config: dict[str, Any]) -> None:
    device = parse_or_reject(json.dumps(config))
    if device is not None:
        check_device(device)
        assert parse_discovery_config(json.dumps(config).encode()) == device  # bytes alike


@fuzz
@given(config=near_valid_configs(), cut=st.integers(min_value=0, max_value=2000))
def test_truncated_configs(config: dict[str, Any], cut: int) -> None:
    """A retained message cut short (or a payload with trailing junk) is refused."""
    text = json.dumps(config)
    for payload in (text[:cut] if cut < len(text) else text + "}", text + ' "x"'):
        assert parse_or_reject(payload) is None


def test_simulator_payload_is_accepted() -> None:
    """The fuzz starts from a valid payload (else it would test only the refusals)."""
    device = parse_discovery_config(json.dumps(BASE))
    check_device(device)
    assert device.mac == MAC and device.command_topic("Status") == "cmnd/tasmota_ABCDEF/Status"


def test_addresses_off_this_machine_are_plain_data() -> None:
    """The parser records an address; reaching it (or not) is for others to decide."""
    for ip in ("10.0.0.1", "192.168.1.20", "8.8.8.8"):
        assert parse_discovery_config(json.dumps({**BASE, "ip": ip})).ip == ip


# ------------------------------------------------- cases that once got through


@fuzz
@given(
    key=st.sampled_from(["t", "hn", "tp"]),
    text=st.sampled_from(["a+b", "+", "x\x00y", "a/+"]),
)
def test_accepted_configs_give_publishable_topics(key: str, text: str) -> None:
    """A '+' or NUL in the topic, host name or a prefix would reach a publish."""
    config = dict(BASE, ft="%prefix%/%hostname%/%topic%/")
    config[key] = [text, "stat", "tele"] if key == "tp" else text
    device = parse_or_reject(json.dumps(config))
    if device is not None:
        check_device(device)


def test_deeply_nested_json_is_refused_with_value_error() -> None:
    """json.loads raises RecursionError here; the tracker's callback catches ValueError."""
    assert parse_or_reject("[" * 100_000) is None
