"""Validation of certificate names and broker host names."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from .errors import InvalidNameError
from .limits import MAX_COMMON_NAME_CHARS

# Device names double as MQTT topics and file names: no separators, no wildcards.
_COMMON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_common_name(cn: str) -> str:
    """Return cn if it is usable as a certificate CN, MQTT identity and file name."""
    if not cn:
        raise InvalidNameError(
            "The name is empty; give the device's MQTT topic, e.g. tasmota_1A2B3C."
        )
    if len(cn) > MAX_COMMON_NAME_CHARS:
        raise InvalidNameError(
            f"The name has {len(cn)} characters; a certificate name holds at most "
            f"{MAX_COMMON_NAME_CHARS}. Use a shorter name."
        )
    if ".." in cn or not _COMMON_NAME.match(cn):
        raise InvalidNameError(
            f"The name {cn!r} may only use letters, digits, '.', '_' and '-' (no spaces, "
            "'/', '..' or MQTT wildcards) and must start with a letter or digit."
        )
    return cn


def parse_host(host: str) -> tuple[Literal["dns", "ip"], str]:
    """Classify a broker host as an IP address or a DNS name, or refuse it."""
    candidate = host.strip()
    try:
        return "ip", str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    name = candidate.rstrip(".")
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidNameError(
            f"{host!r} is not a valid host name or IP address; devices use it as MqttHost, "
            "e.g. mqtt.home.lan or 192.168.1.10.",
            code="invalid_host",
        )
    return "dns", name.lower()
