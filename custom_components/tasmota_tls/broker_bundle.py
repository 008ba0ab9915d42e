"""The export_broker_bundle action: Mosquitto files, and a broker key rotation devices survive."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.exceptions import HomeAssistantError

from .address_guard import deny_list
from .address_pins import pinned_topics
from .broker.acl import DeviceTopics, LeftOut
from .broker.mosquitto import LAYOUT_PATHS, LAYOUTS, BundleResult, Layout, write_bundle
from .ca import bundle_directory, refresh_exported_crl
from .const import (
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_VALIDATION,
    DEFAULT_VALIDATION,
    DOMAIN,
    VALIDATION_FINGERPRINT,
)
from .issues import ISSUE_ACL_LEFT_OUT, async_set_issue
from .models import TasmotaTlsConfigEntry, renew_window
from .pki import PkiError

if TYPE_CHECKING:
    from .manager import TlsManager

_LOGGER = logging.getLogger(__name__)


def device_topics(manager: TlsManager) -> tuple[list[DeviceTopics], list[LeftOut]]:
    """ACL entries for every device that owns a certificate, oldest certificate first.

    The topics are the pinned ones, those the device was enrolled with, never what a
    later discovery config says: a change there is a repair, not wider rights. The
    oldest certificate comes first so that, on a conflict, the incumbent keeps its rights.
    A device whose topics cannot go into an ACL is left out and reported.
    """
    owned = []
    for mac in {*manager.pins.pins, *manager.journal.certificates, *manager.tracker.devices}:
        if (certificate := manager.certificate(mac)) is not None:
            owned.append((certificate.not_before or certificate.not_after, mac))
    topics: list[DeviceTopics] = []
    left: list[LeftOut] = []
    for _, mac in sorted(owned):
        pin = manager.pins.pins.get(mac)
        state = manager.tracker.devices.get(mac)
        model = pinned_topics(pin, mac) if pin is not None else None
        if model is None and state is not None and not manager.pins.moved(state.device):
            model = state.device.topics  # enrolled before topics were pinned
        if model is None:
            continue  # not seen since the upgrade: its pin is completed on first sight
        try:
            topics.append(manager.guard.acl_topics(mac, state.device if state else None, model))
        except PkiError as err:
            left.append(LeftOut(mac, mac, err.code, str(err)))
    return topics, left


def _report_left_out(manager: TlsManager, left: list[LeftOut]) -> None:
    """One repair per device the ACL leaves out; cleared for every other device."""
    reasons = {item.mac: item.reason for item in left if item.mac}
    for item in left:
        _LOGGER.warning("Tasmota %s gets no ACL entry: %s", item.mac, item.reason)
    for mac in {*reasons, *manager.tracker.devices}:
        async_set_issue(manager.hass, ISSUE_ACL_LEFT_OUT, manager.entry.entry_id, mac in reasons,
                        {"mac": mac, "reason": reasons.get(mac, "")}, mac=mac)  # fmt: skip


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
    entry: TasmotaTlsConfigEntry, passphrase: str, layout: str, *, rotate: bool = False
) -> dict[str, Any]:
    """Write the bundle (issuing a broker certificate when needed); the action's response.

    A renewal keeps the broker key. ``rotate`` asks for a new one: it is staged first
    and its fingerprint sent to every device as MqttFingerprint2, and only then does the
    bundle get a certificate for it, so a device pinned by fingerprint accepts the
    broker before and after the broker reloads.
    """
    manager, ca = entry.runtime_data.manager, entry.runtime_data.ca
    before = ca.snapshot.broker_fingerprint if ca.snapshot else None
    out_dir = bundle_directory(manager.hass, entry.entry_id)
    devices, invalid = device_topics(manager)
    pushed: list[str] = []
    try:
        if rotate and (staged := await ca.async_stage_broker_key(passphrase)) is not None:
            pushed = await async_push_next_fingerprint(manager, staged)
        result, new_key = await ca.async_write_broker_bundle(
            passphrase,
            entry.data[CONF_BROKER_HOST],
            out_dir,
            port=int(entry.data[CONF_BROKER_PORT]),
            layout=layout,
            devices=devices,
            renew_before=renew_window(entry),
            deny=deny_list(entry.options),
            rotate=rotate,
        )
    except (PkiError, OSError) as err:
        # Whatever stopped the bundle, a revocation still reaches the exported CRL.
        await manager.hass.async_add_executor_job(_copy_crl, manager, out_dir)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    _report_left_out(manager, [*invalid, *result.left_out])
    after = ca.snapshot.broker_fingerprint if ca.snapshot else None
    if not pushed and new_key and before is not None and after is not None and after != before:
        # The store's first key replaced an imported certificate devices pinned: they
        # learn it as the next one before the broker serves it.
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
        "new_broker_key": new_key,
        "next_fingerprint_sent_to": pushed,
        "devices_without_certificate": list(result.skipped_devices),
        "devices_left_out": [item.mac or item.name for item in [*invalid, *result.left_out]],
    }


def exported_layouts(out_dir: Path) -> list[Layout]:
    """Layouts an earlier export wrote into ``out_dir`` (their configuration file exists)."""
    return [name for name in LAYOUTS if (out_dir / LAYOUT_PATHS[name].conf).is_file()]


def _copy_crl(manager: TlsManager, out_dir: Path) -> None:
    try:
        refresh_exported_crl(manager.ca.store, out_dir)
    except (OSError, PkiError) as err:
        _LOGGER.warning("Could not update the exported CRL: %s", err)


async def async_refresh_exported_bundle(manager: TlsManager, passphrase: str) -> None:
    """Rewrite an exported bundle so its ACL and CRL follow issuance and revocation.

    Only files whose content changed are written, so a broker that watches the folder
    reloads only when needed. Nothing happens when no bundle was exported. The CRL is
    copied first and on its own: no problem with the ACL or the broker files keeps a
    revocation from the broker.
    """
    entry, store = manager.entry, manager.ca.store
    out_dir = bundle_directory(manager.hass, entry.entry_id)
    devices, invalid = device_topics(manager)
    port = int(entry.data[CONF_BROKER_PORT])
    deny = deny_list(entry.options)

    def refresh() -> tuple[list[str], list[LeftOut]]:
        changed = [f"crl:{path.name}" for path in refresh_exported_crl(store, out_dir)]
        left: list[LeftOut] = []
        for layout in exported_layouts(out_dir):
            result: BundleResult = write_bundle(store, passphrase, out_dir, port=port,
                                                layout=layout, devices=devices, deny=deny,
                                                leave_out=True)  # fmt: skip
            changed += [f"{layout}:{role}" for role in result.changed]
            left = list(result.left_out)
        return changed, left

    try:
        changed, left = await manager.hass.async_add_executor_job(refresh)
    except (PkiError, OSError) as err:
        _LOGGER.warning("Could not update the exported broker bundle: %s", err)
        await manager.hass.async_add_executor_job(_copy_crl, manager, out_dir)
        return
    _report_left_out(manager, [*invalid, *left])
    if changed:
        _LOGGER.info(
            "Updated the exported broker bundle (%s); reload the broker", ", ".join(changed)
        )
