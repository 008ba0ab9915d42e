"""What a Tasmota device can take: the one place that knows each limit.

Sources: Tasmota's xdrv_02_9_mqtt.ino (TLSKey storage), PubSubClient's
MQTT_MAX_PACKET_SIZE, and the web/HTTP command buffer.
"""

from __future__ import annotations

# A web console or HTTP /cm command must be shorter than this many characters.
MAX_COMMAND_CHARS = 1200
# A whole MQTT PUBLISH packet larger than this is dropped silently by the device.
MAX_MQTT_PACKET_BYTES = 1200

# TLSKey1 holds the raw P-256 private scalar.
TLSKEY1_BYTES = 32
# TLSKey2 refuses a certificate of 256 bytes or fewer.
TLSKEY2_MIN_DER = 257
# The TLSKey flash slot is 1 KiB: a 32-byte directory (4 entries of 8 bytes), then the
# key, then the certificate aligned to 4 bytes. The firmware does not check the upper
# bound, so a larger certificate would overwrite whatever follows the slot.
TLSKEY_SLOT_BYTES = 1024
TLSKEY_DIRECTORY_BYTES = 32
TLSKEY2_MAX_DER = TLSKEY_SLOT_BYTES - TLSKEY_DIRECTORY_BYTES - ((TLSKEY1_BYTES + 3) & ~3)

DEFAULT_TLS_PORT = 8883

# Validity defaults, in days.
CA_DAYS = 3650
BROKER_DAYS = 825
DEVICE_DAYS = 365
HA_CLIENT_DAYS = 825
CRL_DAYS = 30

# Common names: the device topic fits Tasmota's 32-character topic buffer; X.509 allows 64.
MAX_COMMON_NAME_CHARS = 64


def mqtt_publish_packet_size(topic: str, payload_len: int, qos: int = 0) -> int:
    """Bytes of an MQTT 3.1.1 PUBLISH packet carrying payload_len bytes on topic."""
    remaining = 2 + len(topic.encode()) + payload_len + (2 if qos else 0)
    length_bytes = 1
    while remaining >= 128**length_bytes:
        length_bytes += 1
    return 1 + length_bytes + remaining
