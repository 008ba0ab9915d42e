"""Actions: enrol, renew, revoke, export_trust_anchor and export_broker_bundle.

``enroll`` is the first release's name of ``enrol``, kept as an alias so automations
written for it go on working (README, Actions).
"""

from __future__ import annotations

from pathlib import Path

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr

from .broker_export import async_export_broker_bundle
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    ATTR_LAYOUT,
    ATTR_REASON,
    ATTR_SERIAL,
    CONF_PASSPHRASE,
    DOMAIN,
    EXPORT_DIR,
    SERVICE_ENROL,
    SERVICE_ENROLL,
    SERVICE_EXPORT_BROKER_BUNDLE,
    SERVICE_EXPORT_TRUST_ANCHOR,
    SERVICE_RENEW,
    SERVICE_REVOKE,
)
from .device_links import mac_of_connections
from .export import write_trust_anchor
from .models import TasmotaTlsConfigEntry
from .pki.profiles import REVOCATION_REASONS

ATTR_ROTATE_KEY = "rotate_key"

_DEVICE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Optional(CONF_PASSPHRASE): cv.string,
    }
)
_REVOKE_SCHEMA = _DEVICE_SCHEMA.extend(
    {
        vol.Optional(ATTR_REASON, default="unspecified"): vol.In(list(REVOCATION_REASONS)),
        vol.Optional(ATTR_SERIAL): cv.string,
    }
)
_ENTRY_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
_BUNDLE_SCHEMA = _ENTRY_SCHEMA.extend(
    {
        vol.Optional(ATTR_LAYOUT, default="folder"): vol.In(["folder", "ha-addon", "server"]),
        vol.Optional(CONF_PASSPHRASE): cv.string,
        # A new broker key only when asked: a renewal keeps the key devices pin.
        vol.Optional(ATTR_ROTATE_KEY, default=False): cv.boolean,
    }
)


def _loaded_entries(hass: HomeAssistant) -> list[TasmotaTlsConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _entry_for_call(hass: HomeAssistant, call: ServiceCall) -> TasmotaTlsConfigEntry:
    entries = _loaded_entries(hass)
    wanted = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if wanted is not None:
        entries = [entry for entry in entries if entry.entry_id == wanted]
    if len(entries) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found" if not entries else "entry_ambiguous",
        )
    return entries[0]


def _device_for_call(hass: HomeAssistant, call: ServiceCall) -> tuple[TasmotaTlsConfigEntry, str]:
    """The entry and MAC behind the call's device_id.

    The device is usually the Tasmota integration's (our entities link to it), else
    our own for the MAC: either way its MAC connection names the device. The CA's
    service device has none.
    """
    device = dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])
    mac = mac_of_connections(device.connections) if isinstance(device, dr.DeviceEntry) else None
    if mac is not None:
        for entry in _loaded_entries(hass):
            if entry.runtime_data.view.device_state(mac) is not None:
                return entry, mac
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="device_not_found")


async def _async_enrol(call: ServiceCall) -> None:
    entry, mac = _device_for_call(call.hass, call)
    operations = entry.runtime_data.operations
    await operations.async_request(mac, "enrol", call.data.get(CONF_PASSPHRASE))


async def _async_renew(call: ServiceCall) -> None:
    entry, mac = _device_for_call(call.hass, call)
    operations = entry.runtime_data.operations
    await operations.async_request(mac, "renew", call.data.get(CONF_PASSPHRASE))


async def _async_revoke(call: ServiceCall) -> ServiceResponse:
    entry, mac = _device_for_call(call.hass, call)
    revoked = await entry.runtime_data.operations.async_revoke(
        mac, call.data[ATTR_REASON], call.data.get(CONF_PASSPHRASE), call.data.get(ATTR_SERIAL)
    )
    return {"serial": revoked.serial, "common_name": revoked.cn}


async def _async_export_trust_anchor(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    entry = _entry_for_call(hass, call)
    out_dir = Path(hass.config.path(EXPORT_DIR, entry.entry_id, "firmware"))
    ca = entry.runtime_data.ca
    try:
        certificate = await ca.async_ca_certificate()
        written = await hass.async_add_executor_job(write_trust_anchor, certificate, out_dir)
    except (OSError, ValueError) as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    return {"files": [str(path) for path in written]}


async def _async_export_broker_bundle(call: ServiceCall) -> ServiceResponse:
    entry = _entry_for_call(call.hass, call)
    passphrase = await entry.runtime_data.custody.async_passphrase(call.data.get(CONF_PASSPHRASE))
    return await async_export_broker_bundle(
        entry, passphrase, call.data[ATTR_LAYOUT], rotate=call.data[ATTR_ROTATE_KEY]
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_ENROL, _async_enrol, schema=_DEVICE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_ENROLL, _async_enrol, schema=_DEVICE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_RENEW, _async_renew, schema=_DEVICE_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_REVOKE,
        _async_revoke,
        schema=_REVOKE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_TRUST_ANCHOR,
        _async_export_trust_anchor,
        schema=_ENTRY_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_BROKER_BUNDLE,
        _async_export_broker_bundle,
        schema=_BUNDLE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
