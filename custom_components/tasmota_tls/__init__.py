"""Tasmota TLS: every Tasmota device on MQTT over TLS with its own client certificate."""

from __future__ import annotations

import logging

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .ca import CertificateAuthority, bundle_directory, store_directory
from .const import CONF_PASSPHRASE, CONF_STORE_ID, CONF_WEB_PASSWORD, DOMAIN
from .device_links import async_remove_orphaned_entities
from .issues import async_clear_entry_issues
from .journal import EnrolmentJournal
from .log_guard import install_log_guard
from .models import TasmotaTlsConfigEntry
from .pki import PkiError
from .runtime import build_runtime
from .secret_store import SecretStore, secrets_path, write_secrets
from .services import async_setup_services

_LOGGER = logging.getLogger(__name__)

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once for all entries; keep device keys out of MQTT logs."""
    install_log_guard()
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: TasmotaTlsConfigEntry) -> bool:
    """Open the CA, restore the journal, follow discovery, resume enrolments."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_unavailable")

    ca = CertificateAuthority(
        hass,
        store_directory(hass, entry.data[CONF_STORE_ID]),
        bundle_dir=bundle_directory(hass, entry.entry_id),
    )
    try:
        await ca.async_refresh()
    except PkiError as err:
        _LOGGER.error("The CA store of %s cannot be read: %s", entry.title, err)
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key="store_unreadable"
        ) from err

    journal = EnrolmentJournal(hass, entry.entry_id)
    await journal.async_load()
    secrets = SecretStore(hass, entry.data[CONF_STORE_ID])
    try:
        await secrets.async_load()
    except (OSError, ValueError) as err:
        _LOGGER.error("The secrets of %s cannot be read: %s", entry.title, err)
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key="secrets_unreadable"
        ) from err
    data = entry.runtime_data = build_runtime(hass, entry, ca, journal, secrets)

    async_remove_orphaned_entities(hass, entry.entry_id)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(data.feed.async_stop)
    await data.feed.async_start()
    await data.lifecycle.async_start()
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: TasmotaTlsConfigEntry) -> bool:
    """1.1 -> 1.2: the passphrase (data) and web password (options) move to the secrets file.

    Written to the 0600 file first, removed from the 0644 config entries after: a crash
    in between leaves a 1.1 entry, and the migration runs again.
    """
    if entry.version > 1:
        return False  # written by a newer version of the integration
    if entry.minor_version < 2:
        values = {
            CONF_PASSPHRASE: entry.data.get(CONF_PASSPHRASE),
            CONF_WEB_PASSWORD: entry.options.get(CONF_WEB_PASSWORD),
        }
        path = secrets_path(hass, entry.data[CONF_STORE_ID])
        kept = {key: value for key, value in values.items() if value}
        if kept:
            try:
                await hass.async_add_executor_job(write_secrets, path, kept)
            except (OSError, PkiError) as err:
                _LOGGER.error("Cannot move the secrets of %s to %s: %s", entry.title, path, err)
                return False
        data = {k: v for k, v in entry.data.items() if k != CONF_PASSPHRASE}
        options = {k: v for k, v in entry.options.items() if k != CONF_WEB_PASSWORD}
        hass.config_entries.async_update_entry(
            entry, data=data, options=options, version=1, minor_version=2
        )
        _LOGGER.info("Moved the secrets of %s out of the config entry to %s", entry.title, path)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: TasmotaTlsConfigEntry) -> None:
    """Options change timers and enrolment settings: start over with them."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: TasmotaTlsConfigEntry) -> bool:
    """Stop following devices; running enrolments are cancelled with the entry's tasks."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: TasmotaTlsConfigEntry) -> None:
    """Clear the entry's repairs. The CA store is kept: devices still trust it."""
    async_clear_entry_issues(hass, entry.entry_id)
    _LOGGER.info(
        "The CA of %s stays in %s; delete it yourself if no device needs it",
        entry.title,
        store_directory(hass, entry.data[CONF_STORE_ID]),
    )


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: TasmotaTlsConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """Allow removing a device that no longer announces itself."""
    data = entry.runtime_data
    for domain, identifier in device_entry.identifiers:
        if domain != DOMAIN or identifier == entry.entry_id:
            continue
        state = data.view.device_state(identifier)
        if state is not None and state.present:
            return False
        await data.feed.async_forget(identifier)
    return not any(
        domain == DOMAIN and identifier == entry.entry_id
        for domain, identifier in device_entry.identifiers
    )
