"""The export_broker_bundle action: Mosquitto files, and a broker key rotation devices survive."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.exceptions import HomeAssistantError

from .ca import bundle_directory
from .const import (
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_VALIDATION,
    DEFAULT_VALIDATION,
    DOMAIN,
    VALIDATION_FINGERPRINT,
)
from .models import TasmotaTlsConfigEntry, renew_window
from .naming import certificate_name
from .pki import PkiError
from .pki.acl import DeviceTopics
from .pki.mosquitto import LAYOUT_PATHS, LAYOUTS, Layout, write_bundle

if TYPE_CHECKING:
    from .manager import TlsManager

_LOGGER = logging.getLogger(__name__)


def device_topics(manager: TlsManager) -> list[DeviceTopics]:
    """ACL entries for every discovered device that has a certificate."""
    topics = []
    for mac, state in manager.tracker.devices.items():
        if manager.certificate(mac) is None:
            continue
        device = state.device
        try:
            topics.append(
                DeviceTopics(
                    name=manager.journal.names.get(mac) or certificate_name(device),
                    topic=device.topic,
                    full_topic=device.full_topic,
                    prefixes=device.prefixes,
                    mac=device.mac,
                    hostname=device.hostname,
                )
            )
        except PkiError as err:
            _LOGGER.warning("Tasmota %s gets no ACL entry: %s", mac, err)
    return topics


async def async_push_next_fingerprint(manager: TlsManager, fingerprint: str) -> list[str]:
    """Give every enrolled device the broker's next key as MqttFingerprint2.

    Sent before the broker switches keys, so devices that pin the key by fingerprint
    accept both the old and the new one and none is cut off.
    """
    options = manager.entry.options
    if options.get(CONF_VALIDATION, DEFAULT_VALIDATION) != VALIDATION_FINGERPRINT:
        return []
    sent = []
    for mac, state in manager.tracker.devices.items():
        if not state.present or manager.certificate(mac) is None:
            continue
        topic = state.device.command_topic("MqttFingerprint2")
        await mqtt.async_publish(manager.hass, topic, fingerprint)
        sent.append(mac)
    return sent


async def async_export_broker_bundle(
    entry: TasmotaTlsConfigEntry, passphrase: str, layout: str
) -> dict[str, Any]:
    """Write the bundle (issuing a broker certificate when needed); the action's response."""
    manager, ca = entry.runtime_data.manager, entry.runtime_data.ca
    before = ca.snapshot.broker_fingerprint if ca.snapshot else None
    out_dir = bundle_directory(manager.hass, entry.entry_id)
    try:
        result, issued = await ca.async_write_broker_bundle(
            passphrase,
            entry.data[CONF_BROKER_HOST],
            out_dir,
            port=int(entry.data[CONF_BROKER_PORT]),
            layout=layout,
            devices=device_topics(manager),
            renew_before=renew_window(entry),
        )
    except (PkiError, OSError) as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    after = ca.snapshot.broker_fingerprint if ca.snapshot else None
    pushed: list[str] = []
    if issued and before is not None and after is not None and after != before:
        # A new broker key: devices learn it as the next one before the broker uses it.
        pushed = await async_push_next_fingerprint(manager, after)
    await entry.runtime_data.lifecycle.async_check()  # repairs about the broker may be solved
    manager.async_notify()
    return {
        "directory": str(out_dir),
        "files": {role: str(path) for role, path in result.files.items()},
        "install_paths": dict(result.installed),
        "changed": list(result.changed),
        "reload_needed": result.reload_needed,
        "restart_needed": result.restart_needed,
        "new_broker_key": issued,
        "next_fingerprint_sent_to": pushed,
        "devices_without_certificate": list(result.skipped_devices),
    }


def exported_layouts(out_dir: Path) -> list[Layout]:
    """Layouts an earlier export wrote into ``out_dir`` (their configuration file exists)."""
    return [name for name in LAYOUTS if (out_dir / LAYOUT_PATHS[name].conf).is_file()]


async def async_refresh_exported_bundle(manager: TlsManager, passphrase: str) -> None:
    """Rewrite an exported bundle so its ACL and CRL follow issuance and revocation.

    Only files whose content changed are written, so a broker that watches the folder
    reloads only when needed. Nothing happens when no bundle was exported.
    """
    entry, store = manager.entry, manager.ca.store
    out_dir = bundle_directory(manager.hass, entry.entry_id)
    devices = device_topics(manager)
    port = int(entry.data[CONF_BROKER_PORT])

    def refresh() -> list[str]:
        changed = []
        for layout in exported_layouts(out_dir):
            result = write_bundle(
                store, passphrase, out_dir, port=port, layout=layout, devices=devices
            )
            changed += [f"{layout}:{role}" for role in result.changed]
        return changed

    try:
        changed = await manager.hass.async_add_executor_job(refresh)
    except (PkiError, OSError) as err:
        _LOGGER.warning("Could not update the exported broker bundle: %s", err)
        return
    if changed:
        _LOGGER.info(
            "Updated the exported broker bundle (%s); reload the broker", ", ".join(changed)
        )
