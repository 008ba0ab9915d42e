"""Diagnostics: the entry, the CA's index and each device's state; never key material."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_CERT_PEM, CONF_KEY_PEM, CONF_PASSPHRASE, CONF_WEB_PASSWORD
from .models import TasmotaTlsConfigEntry

TO_REDACT = {CONF_PASSPHRASE, CONF_KEY_PEM, CONF_CERT_PEM, CONF_WEB_PASSWORD}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: TasmotaTlsConfigEntry
) -> dict[str, Any]:
    """Everything useful for a bug report."""
    manager = entry.runtime_data.manager
    snapshot = await entry.runtime_data.ca.async_refresh()
    devices = {}
    for mac, state in manager.tracker.devices.items():
        record = manager.journal.records.get(mac)
        devices[mac] = {
            "device": asdict(state.device),
            "present": state.present,
            "online": state.online,
            "mqtt_tls": state.mqtt_tls,
            "mqtt_host": state.mqtt_host,
            "mqtt_port": state.mqtt_port,
            "status": manager.status(mac).value,
            "certificate_serial": manager.journal.certificates.get(mac),
            "last_enrolment": record.to_dict() if record else None,
        }
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "ca": {
            "name": snapshot.ca_name,
            "not_after": snapshot.ca_not_after.isoformat(),
            "broker_not_after": _iso(snapshot.broker_not_after),
            "broker_names": list(snapshot.broker_names),
            "broker_fingerprint": snapshot.broker_fingerprint,
            "crl_next_update": _iso(snapshot.crl_next_update),
            "certificates": [entry_.to_json() for entry_ in snapshot.entries],
        },
        "devices": devices,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
