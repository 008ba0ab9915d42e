"""Diagnostics: the entry, the CA's index and each device's state.

Never key material or passphrases; and, as core integrations do with async_redact_data,
no MAC address, IP address, host name or MQTT topic either: a report is posted in public
issue trackers. Devices are numbered instead of keyed by MAC, and free text (a failure
detail, a rule) has the device's own MAC, address and topics replaced.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .ca import CaSnapshot
from .const import (
    CONF_BROKER_HOST,
    CONF_CERT_PEM,
    CONF_KEY_PEM,
    CONF_PASSPHRASE,
    CONF_WEB_PASSWORD,
)
from .models import TasmotaTlsConfigEntry
from .pki import PkiError

_LOGGER = logging.getLogger(__name__)

SECRETS = {CONF_PASSPHRASE, CONF_KEY_PEM, CONF_CERT_PEM, CONF_WEB_PASSWORD}
# Identifying data: MACs, addresses and names on the network, topics (a certificate's CN
# is the device's topic), and a rule's text (it names the broker and topics).
IDENTIFIERS = {
    "mac",
    "ip",
    "hostname",
    "mqtt_host",
    CONF_BROKER_HOST,
    "broker_names",
    "topic",
    "full_topic",
    "cn",
    "text",
}
TO_REDACT = SECRETS | IDENTIFIERS


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: TasmotaTlsConfigEntry
) -> dict[str, Any]:
    """Everything useful for a bug report."""
    view = entry.runtime_data.view
    ca = entry.runtime_data.ca
    store_error: str | None = None
    snapshot: CaSnapshot | None
    try:
        snapshot = await ca.async_refresh()
    except (PkiError, OSError) as err:
        # The report still downloads, with what was last read and why it is stale.
        _LOGGER.warning("Diagnostics: the CA store could not be read again: %s", err)
        store_error = type(err).__name__
        snapshot = ca.snapshot
    devices = []
    for number, (mac, state) in enumerate(sorted(view.devices.items()), start=1):
        record = view.record(mac)
        last = record.to_dict() if record else None
        if last is not None and last.get("detail"):
            device = state.device
            known = [mac, device.ip, device.hostname, device.topic, *device.topics.bases()]
            last["detail"] = _scrub(str(last["detail"]), known)
        devices.append(
            {
                "device": f"device_{number}",
                **async_redact_data(
                    {
                        "tasmota": asdict(state.device),
                        "present": state.present,
                        "online": state.online,
                        "mqtt_tls": state.mqtt_tls,
                        "mqtt_host": state.mqtt_host,
                        "mqtt_port": state.mqtt_port,
                        "status": view.status(mac).value,
                        "certificate_serial": view.certificate_serial(mac),
                        "last_enrolment": last,
                    },
                    TO_REDACT,
                ),
            }
        )
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "ca": _ca(snapshot, store_error),
        "devices": devices,
    }


def _ca(snapshot: CaSnapshot | None, store_error: str | None) -> dict[str, Any]:
    if snapshot is None:
        return {"store_error": store_error}
    return {
        "store_error": store_error,
        "name": snapshot.ca_name,
        "not_after": snapshot.ca_not_after.isoformat(),
        "broker_not_after": _iso(snapshot.broker_not_after),
        "broker_names": REDACTED if snapshot.broker_names else [],
        "broker_fingerprint": snapshot.broker_fingerprint,
        "crl_next_update": _iso(snapshot.crl_next_update),
        "certificates": async_redact_data(
            [entry_.to_json() for entry_ in snapshot.entries], TO_REDACT
        ),
    }


def _scrub(text: str, values: list[str]) -> str:
    """``text`` without any of ``values`` (longest first, so no part of one survives)."""
    for value in sorted({value for value in values if value}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
