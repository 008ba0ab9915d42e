"""One topic model: discovery, the ACL and the CLI's size guard expand FullTopic alike."""

from __future__ import annotations

import argparse

import pytest

from custom_components.tasmota_tls.broker.acl import device_topics_from_discovery
from custom_components.tasmota_tls.discovery import parse_discovery_config
from custom_components.tasmota_tls.pki.topics import (
    TopicModel,
    denied_root,
    expand,
    overlaps,
    parse_prefixes,
)
from tasmota_tls_tool.cli_pki import _command_topic
from tests.helpers.constants import MAC

from .support import discovery

FULL_TOPICS = [
    "%prefix%/%topic%/",
    "%topic%/%prefix%/",
    "%topic%/",
    "home/%hostname%/%prefix%",
    "dev/%id%/%prefix%/%topic%",
    "a//%prefix%/#/%topic%",
]


@pytest.mark.parametrize("full_topic", FULL_TOPICS)
def test_discovery_and_acl_build_the_same_topics(full_topic: str) -> None:
    import json

    config = discovery("plug", MAC, ft=full_topic, hn="plug-host", tp=["c", "s", "t"])
    device = parse_discovery_config(json.dumps(config))
    acl = device_topics_from_discovery(config)
    assert device.command_topic("") == acl.command_base
    assert device.stat_topic("") == acl.stat_base
    assert device.tele_topic("") == acl.tele_base


def test_expansion_follows_get_topic_p() -> None:
    # Without %prefix%, commands get "/%prefix%" appended; replies and telemetry do not.
    model = TopicModel("plug", "%topic%/", ("cmnd", "stat", "tele"), "host", MAC)
    assert model.bases() == ("plug/cmnd/", "plug/", "plug/")
    # %id% is the whole MAC (WiFi.macAddress() without colons), %hostname% the host name.
    model = TopicModel("p", "x/%hostname%/%id%/%prefix%/", ("cmnd", "stat", "tele"), "h", MAC)
    assert model.command_topic("Power") == f"x/h/{MAC}/cmnd/Power"
    assert expand("a//%prefix%#/", 1, ("c", "s", "t"), "p") == "a/s/"


def test_unknown_host_name_and_mac_count_at_their_longest() -> None:
    model = TopicModel("p", "%prefix%/%hostname%/%id%/", hostname=None, mac=None)
    assert len(model.command_topic()) == len("cmnd/") + 32 + 1 + 12 + 1


def cli_args(full_topic: str, prefixes: str = "cmnd,stat,tele") -> argparse.Namespace:
    return argparse.Namespace(topic=None, full_topic=full_topic, prefixes=prefixes)


def test_cli_size_guard_checks_the_topic_the_firmware_uses() -> None:
    # The naive expansion gave "plug/TLSKey2": the firmware publishes on plug/cmnd/.
    assert _command_topic(cli_args("%topic%/"), "plug") == "plug/cmnd/TLSKey2"
    assert _command_topic(cli_args("%prefix%/%topic%/"), "plug") == "cmnd/plug/TLSKey2"
    host = _command_topic(cli_args("%prefix%/%hostname%/%topic%/"), "plug")
    assert host == "cmnd/" + "h" * 32 + "/plug/TLSKey2"


def test_prefixes_are_three() -> None:
    assert parse_prefixes("a, b ,c") == ("a", "b", "c")
    with pytest.raises(ValueError):
        parse_prefixes("cmnd,stat")


def test_deny_list_overlaps() -> None:
    assert overlaps("homeassistant/", "homeassistant/")
    assert overlaps("home/", "home/assistant/")  # home/# reaches home/assistant/...
    assert not overlaps("homeassistant2/", "homeassistant/")
    assert overlaps("$SYS/", "$")
    assert not overlaps("cmnd/", "$")
    deny = ["homeassistant", "$", "tasmota/discovery/"]
    assert denied_root(["xcmd/", "homeassistant/", "xtele/"], deny) == (
        "homeassistant/",
        "homeassistant/",
    )
    assert denied_root(["tasmota/"], deny) == ("tasmota/", "tasmota/discovery/")
    assert denied_root(["cmnd/plug/", "stat/plug/"], deny) is None
