"""The integration's device limits against the simulator's own, read from the firmware source.

Each side keeps its own copy on purpose (virtual_tasmota/firmware.py cites the firmware file
for every value): if the two ever differ, one of them is wrong and this is the test that says so.
"""

from __future__ import annotations

from custom_components.tasmota_tls.pki import limits
from virtual_tasmota import firmware
from virtual_tasmota.mqtt import publish_packet_size


def test_the_integration_limits_are_the_firmware_limits() -> None:
    assert {
        "MAX_COMMAND_CHARS": limits.MAX_COMMAND_CHARS,
        "MAX_MQTT_PACKET_BYTES": limits.MAX_MQTT_PACKET_BYTES,
        "TLSKEY1_BYTES": limits.TLSKEY1_BYTES,
        "TLSKEY2_MIN_DER": limits.TLSKEY2_MIN_DER,
        "TLSKEY_SLOT_BYTES": limits.TLSKEY_SLOT_BYTES,
        "TLSKEY_DIRECTORY_BYTES": limits.TLSKEY_DIRECTORY_BYTES,
        "TLSKEY2_MAX_DER": limits.TLSKEY2_MAX_DER,
    } == {
        "MAX_COMMAND_CHARS": firmware.WEB_COMMAND_MAX_CHARS,
        "MAX_MQTT_PACKET_BYTES": firmware.MQTT_MAX_PACKET_SIZE,
        "TLSKEY1_BYTES": firmware.TLSKEY1_BYTES,
        "TLSKEY2_MIN_DER": firmware.TLSKEY2_MIN_DER,
        "TLSKEY_SLOT_BYTES": firmware.TLSKEY_BLOCK_BYTES,
        "TLSKEY_DIRECTORY_BYTES": firmware.TLSKEY_DIRECTORY_BYTES,
        "TLSKEY2_MAX_DER": firmware.TLSKEY2_MAX_DER,
    }
    # The packet arithmetic the size guard uses, against the device's own PubSubClient sum,
    # around the one- and two-byte remaining-length boundaries and the 1200-byte limit.
    topic = "cmnd/tasmota_1A2B3C/TLSKey2"
    for payload in (0, 1, 96, 97, 98, 1100, 1167, 1168, 1169, 16_000):
        assert limits.mqtt_publish_packet_size(topic, payload) == publish_packet_size(
            topic, payload
        )
