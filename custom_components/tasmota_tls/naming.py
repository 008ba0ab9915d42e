"""The certificate name (CN) a device gets."""

from __future__ import annotations

from .discovery import TasmotaDevice
from .pki import PkiError
from .pki.names import validate_common_name


def certificate_name(device: TasmotaDevice) -> str:
    """The device's MQTT topic, so broker ACLs can use the CN (``%u``) as the topic.

    A topic that cannot be a certificate name falls back to ``tasmota-<MAC>``.
    """
    try:
        return validate_common_name(device.topic)
    except PkiError:
        return f"tasmota-{device.mac}"
