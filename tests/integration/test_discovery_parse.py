"""Parsing of Tasmota discovery configs and topic expansion."""

from __future__ import annotations

import json

import pytest

from custom_components.tasmota_tls.discovery import (
    mac_from_config_topic,
    normalize_mac,
    parse_discovery_config,
    registry_mac,
)

from .install import discovery_config, discovery_payload


def test_parse_typical_config() -> None:
    device = parse_discovery_config(discovery_payload())
    assert device.mac == "A4CF12ABCDEF"
    assert device.ip == "127.0.0.2"
    assert device.topic == "plug_abcdef"
    assert device.prefixes == ("cmnd", "stat", "tele")
    assert device.name == "Kitchen plug"
    assert device.firmware == "14.5.0"
    assert device.model == "Sonoff Basic"
    assert device.command_topic("TLSKey1") == "cmnd/plug_abcdef/TLSKey1"
    assert device.stat_topic("RESULT") == "stat/plug_abcdef/RESULT"
    assert device.tele_topic("LWT") == "tele/plug_abcdef/LWT"
    assert device.lwt_topic == "tele/plug_abcdef/LWT"


def test_bytes_payload_and_lowercase_mac() -> None:
    device = parse_discovery_config(discovery_payload(mac="a4cf12abcdef").encode())
    assert device.mac == "A4CF12ABCDEF"


def test_full_topic_placeholders_expand_like_tasmota() -> None:
    """%id% is the whole MAC (NetworkUniqueId), %hostname% the device's host name."""
    payload = discovery_payload(
        ft="home/%hostname%/%id%/%prefix%/%topic%/", tp=["c", "s", "t"], hn="plug-42"
    )
    device = parse_discovery_config(payload)
    assert device.command_topic("Status") == "home/plug-42/A4CF12ABCDEF/c/plug_abcdef/Status"
    assert device.stat_topic("STATUS6") == "home/plug-42/A4CF12ABCDEF/s/plug_abcdef/STATUS6"


def test_full_topic_without_prefix_gets_it_for_commands_only() -> None:
    """GetTopic_P appends "/%prefix%" to commands only, so replies keep the bare topic."""
    device = parse_discovery_config(discovery_payload(ft="%topic%/"))
    assert device.full_topic == "%topic%/"
    assert device.command_topic("Power") == "plug_abcdef/cmnd/Power"
    assert device.stat_topic("RESULT") == "plug_abcdef/RESULT"
    assert device.tele_topic("LWT") == "plug_abcdef/LWT"


def test_full_topic_cleanup_like_the_firmware() -> None:
    """'#' is dropped, '//' collapses and a missing trailing '/' is added."""
    device = parse_discovery_config(discovery_payload(ft="a#//%prefix%/%topic%"))
    assert device.command_topic("Power") == "a/cmnd/plug_abcdef/Power"


def test_topic_placeholder_in_topic_is_not_expanded_twice() -> None:
    device = parse_discovery_config(discovery_payload(t="x%prefix%y"))
    assert device.command_topic("Power") == "cmnd/x%prefix%y/Power"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "removed"),
        ("   ", "removed"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({k: v for k, v in discovery_config().items() if k != "mac"}), "'mac'"),
        (json.dumps({k: v for k, v in discovery_config().items() if k != "t"}), "'t'"),
        (discovery_payload(mac="nonsense"), "MAC"),
        (discovery_payload(tp=["cmnd", "stat"]), "'tp'"),
        (discovery_payload(tp=["cmnd", "", "tele"]), "'tp'"),
        (discovery_payload(ip=["127.0.0.2"]), "'ip'"),
        (discovery_payload(t=""), "'t'"),
        (discovery_payload(ft=""), "'ft'"),
        (discovery_payload(t="a+b"), r"'\+' or NUL"),
        (discovery_payload(hn="x\x00y", ft="%hostname%/%prefix%/"), "NUL"),
        (discovery_payload(tp=["c+", "stat", "tele"]), r"'\+'"),
        ("[" * 100_000, "nested too deeply"),
        (discovery_payload(ip="evil.example/cm?x="), "not an IP address"),
    ],
)
def test_bad_payloads_raise_value_error(payload: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_discovery_config(payload)


def test_mac_helpers() -> None:
    assert normalize_mac("a4:cf:12:ab:cd:ef") == "A4CF12ABCDEF"
    assert registry_mac("A4CF12ABCDEF") == "a4:cf:12:ab:cd:ef"
    assert mac_from_config_topic("tasmota/discovery/A4CF12ABCDEF/config") == "A4CF12ABCDEF"
    assert mac_from_config_topic("tasmota/discovery/A4CF12ABCDEF/sensors") is None
    assert mac_from_config_topic("tasmota/discovery/XYZ/config") is None
    with pytest.raises(ValueError):
        normalize_mac("A4CF12ABCD")


def test_registry_mac_matches_home_assistant_normalisation() -> None:
    from homeassistant.helpers.device_registry import format_mac

    assert registry_mac("A4CF12ABCDEF") == format_mac("A4CF12ABCDEF")
