"""ACL rules derived from discovery data, as Tasmota builds its topics."""

from __future__ import annotations

import pytest

from custom_components.tasmota_tls.broker.acl import (
    DeviceTopics,
    check_isolation,
    default_device_topics,
    device_topics_from_discovery,
    render_acl,
)
from custom_components.tasmota_tls.pki.errors import PkiError

from .support import discovery


def test_default_topics_give_exactly_the_devices_own_rules() -> None:
    device = device_topics_from_discovery(discovery("plug", "AABBCCDDEEFF"))

    assert device.name == "plug"
    assert device.read_filters() == (
        "cmnd/plug/#",
        "cmnd/tasmotas/#",
        "cmnd/DVES_DDEEFF_fb/#",
    )
    assert device.write_filters() == (
        "cmnd/plug/POWER",
        "stat/plug/#",
        "tele/plug/#",
        "stat/DVES_DDEEFF_fb/#",
        "tasmota/discovery/AABBCCDDEEFF/#",
    )


def test_custom_full_topic_and_prefixes_are_expanded_per_device() -> None:
    config = discovery("lamp", "112233445566", ft="home/%topic%/%prefix%/", tp=["c", "s", "t"])
    device = device_topics_from_discovery(config, name="lamp-cert")

    assert device.name == "lamp-cert"
    assert device.command_base == "home/lamp/c/"
    assert device.stat_base == "home/lamp/s/"
    assert device.tele_base == "home/lamp/t/"
    # Group topics follow the full topic (SetOption75 0) or are fixed (SetOption75 1);
    # fallback topics always use the literal cmnd/stat prefixes.
    assert device.read_filters() == (
        "home/lamp/c/#",
        "home/tasmotas/c/#",
        "cmnd/tasmotas/#",
        "cmnd/DVES_445566_fb/#",
    )
    assert "s/DVES_445566_fb/#" not in device.write_filters()
    assert "stat/DVES_445566_fb/#" in device.write_filters()


def test_hostname_and_id_tokens_use_the_hostname_and_the_full_mac() -> None:
    config = discovery("x", "A0B1C2D3E4F5", ft="%prefix%/%hostname%/%id%/", hn="kitchen")
    device = device_topics_from_discovery(config)

    assert device.command_base == "cmnd/kitchen/A0B1C2D3E4F5/"
    assert device.tele_base == "tele/kitchen/A0B1C2D3E4F5/"
    # Without %topic% in FullTopic, Tasmota subscribes to no group or fallback topic.
    assert device.read_filters() == ("cmnd/kitchen/A0B1C2D3E4F5/#",)
    assert not any("_fb/" in rule for rule in device.write_filters())


def test_full_topic_without_prefix_gets_it_appended_for_commands_only() -> None:
    device = device_topics_from_discovery(discovery("p", "A0B1C2D3E4F5", ft="%topic%/"))

    assert device.command_base == "p/cmnd/"
    assert device.stat_base == "p/"


def test_mac_separators_and_case_are_normalised_and_mqtt_client_can_be_given() -> None:
    config = discovery("p", "a0:b1:c2:d3:e4:f5")
    device = device_topics_from_discovery(config, mqtt_client="my-plug")

    assert device.discovery_base == "tasmota/discovery/A0B1C2D3E4F5/"
    assert "cmnd/my-plug_fb/#" in device.read_filters()


def test_device_without_discovery_data_gets_no_discovery_or_fallback_rights() -> None:
    device = default_device_topics("plug", "plug-topic")

    assert device.read_filters() == ("cmnd/plug-topic/#", "cmnd/tasmotas/#")
    assert device.write_filters() == (
        "cmnd/plug-topic/POWER",
        "stat/plug-topic/#",
        "tele/plug-topic/#",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("t", "a+b"),
        ("t", "a b"),
        ("ft", "%prefix%/+/%topic%/"),
        ("ft", "%prefix%/%unknown%/"),
        ("ft", "/%prefix%/%topic%"),
    ],
)
def test_topics_that_cannot_be_acl_rules_are_refused(field: str, value: str) -> None:
    with pytest.raises(PkiError) as err:
        device_topics_from_discovery(discovery("p", "A0B1C2D3E4F5", **{field: value}), name="p")
    assert err.value.code == "invalid_topic"


def test_hash_in_a_topic_is_dropped_as_tasmota_does() -> None:
    device = device_topics_from_discovery(discovery("a#b", "A0B1C2D3E4F5"), name="ab")
    assert device.command_base == "cmnd/ab/"


@pytest.mark.parametrize(
    "config",
    [
        {"t": "p", "ft": "%prefix%/%topic%/", "mac": "A0B1C2D3E4F5"},
        {"t": "p", "ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat"], "mac": "A0B1C2D3E4F5"},
        {"ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat", "tele"], "mac": "A0B1C2D3E4F5"},
    ],
)
def test_incomplete_discovery_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(PkiError) as err:
        device_topics_from_discovery(config)
    assert err.value.code == "invalid_discovery"


def test_bad_mac_is_refused() -> None:
    with pytest.raises(PkiError) as err:
        device_topics_from_discovery(discovery("p", "A0B1C2D3E4"))
    assert err.value.code == "invalid_mac"


def test_nested_device_topics_are_refused_because_one_would_read_the_others_commands() -> None:
    kitchen = device_topics_from_discovery(discovery("kitchen", "A0B1C2D3E4F5"))
    lamp = device_topics_from_discovery(discovery("kitchen/lamp", "A0B1C2D3E4F6"), name="lamp")

    with pytest.raises(PkiError) as err:
        check_isolation([kitchen, lamp])
    assert err.value.code == "topic_overlap"


def test_a_device_named_like_the_group_topic_is_refused() -> None:
    group = device_topics_from_discovery(discovery("tasmotas", "A0B1C2D3E4F5"))
    plug = device_topics_from_discovery(discovery("plug", "A0B1C2D3E4F6"))

    with pytest.raises(PkiError) as err:
        check_isolation([plug, group])
    assert err.value.code == "topic_overlap"


def test_the_same_name_twice_is_refused() -> None:
    first = device_topics_from_discovery(discovery("plug", "A0B1C2D3E4F5"))
    second = device_topics_from_discovery(discovery("plug2", "A0B1C2D3E4F6"), name="plug")

    with pytest.raises(PkiError) as err:
        check_isolation([first, second])
    assert err.value.code == "duplicate_device"


def test_rendered_acl_has_ha_blocks_device_blocks_and_no_patterns() -> None:
    plug = device_topics_from_discovery(discovery("plug", "A0B1C2D3E4F5"))
    text = render_acl(
        [plug], ["homeassistant", "addons"], local="user zigbee\ntopic readwrite z2m/#\n"
    )
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]

    assert lines[:6] == [
        "user homeassistant",
        "topic readwrite #",
        "user addons",
        "topic readwrite #",
        "user plug",
        "topic read cmnd/plug/#",
    ]
    assert lines[-2:] == ["user zigbee", "topic readwrite z2m/#"]
    assert not any(line.startswith("pattern") for line in lines)
    # Only the listed identities appear, so any other certificate CN gets nothing.
    assert {line.split()[1] for line in lines if line.startswith("user ")} == {
        "homeassistant",
        "addons",
        "plug",
        "zigbee",
    }


def test_device_topics_is_immutable_and_validates_the_name() -> None:
    with pytest.raises(PkiError):
        DeviceTopics("bad name", "t", "%prefix%/%topic%/", ("cmnd", "stat", "tele"), None)


def test_a_device_with_home_assistants_name_is_refused() -> None:
    impostor = device_topics_from_discovery(discovery("homeassistant", "A0B1C2D3E4F5"))

    with pytest.raises(PkiError) as err:
        render_acl([impostor], ["homeassistant"])
    assert err.value.code == "name_conflict"


def test_a_topic_equal_to_another_devices_fallback_topic_is_refused() -> None:
    plug = device_topics_from_discovery(discovery("plug", "A0B1C2000001"))
    squatter = device_topics_from_discovery(discovery("DVES_000001_fb", "A0B1C2000002"), name="sq")

    with pytest.raises(PkiError) as err:
        check_isolation([plug, squatter])
    assert err.value.code == "topic_overlap"


def test_many_distinct_devices_are_isolated() -> None:
    devices = [
        device_topics_from_discovery(discovery(f"dev{i}", f"A0B1C2{i:06X}")) for i in range(300)
    ]
    check_isolation(devices)  # raises on any overlap
    text = render_acl(devices, ["homeassistant"])
    assert text.count("\nuser dev") == 300
