"""Keep device keys and MQTT passwords out of Home Assistant's MQTT debug log.

With the MQTT enrolment channel the device key travels as the payload of
``<cmnd>/TLSKey1``. Home Assistant's MQTT client logs every payload it sends and
receives at debug level; this filter blanks payloads on TLSKey command topics.
"""

from __future__ import annotations

import logging
import re

MQTT_CLIENT_LOGGER = "homeassistant.components.mqtt.client"
REDACTED = "<redacted>"

# Backlog too: with the Mosquitto add-on the switch carries the device's MqttPassword.
_TLSKEY_TOPIC = re.compile(r"/(?:tlskey[12]?|backlog|mqttpassword)$", re.IGNORECASE)


def _is_tlskey_topic(value: object) -> bool:
    return isinstance(value, str) and bool(_TLSKEY_TOPIC.search(value))


class TlsKeyPayloadFilter(logging.Filter):
    """Replaces every argument after a TLSKey topic (payload, counters) with a marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments; never drop the record itself."""
        args = record.args
        if isinstance(args, tuple) and any(_is_tlskey_topic(arg) for arg in args):
            index = next(i for i, arg in enumerate(args) if _is_tlskey_topic(arg))
            record.args = (
                *args[: index + 1],
                *(REDACTED if isinstance(arg, str | bytes) else arg for arg in args[index + 1 :]),
            )
        if isinstance(record.args, tuple) and any(map(_mentions_password, record.args)):
            # A device's reply or rule echoing MqttPassword (Tasmota echoes a new one).
            record.args = tuple(REDACTED if _mentions_password(a) else a for a in record.args)
        return True


def _mentions_password(value: object) -> bool:
    if isinstance(value, bytes):
        return b"mqttpassword" in value.lower()
    return isinstance(value, str) and "mqttpassword" in value.lower()


def install_log_guard() -> None:
    """Attach the filter once to Home Assistant's MQTT client logger."""
    logger = logging.getLogger(MQTT_CLIENT_LOGGER)
    if not any(isinstance(f, TlsKeyPayloadFilter) for f in logger.filters):
        logger.addFilter(TlsKeyPayloadFilter())
