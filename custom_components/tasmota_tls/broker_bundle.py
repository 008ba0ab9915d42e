"""The export_broker_bundle action: Mosquitto files, and a broker key rotation devices survive."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .broker.acl import LeftOut
from .broker.mosquitto import LAYOUT_PATHS, LAYOUTS, BundleResult, Layout, write_bundle
from .ca import CertificateAuthority, bundle_directory, refresh_exported_crl
from .const import DOMAIN
from .issues import ISSUE_ACL_LEFT_OUT, async_set_issue
from .pki import PkiError
from .read_model import DeviceReadModel
from .settings import EntrySettings

_LOGGER = logging.getLogger(__name__)


def exported_layouts(out_dir: Path) -> list[Layout]:
    """Layouts an earlier export wrote into ``out_dir`` (their configuration file exists)."""
    return [name for name in LAYOUTS if (out_dir / LAYOUT_PATHS[name].conf).is_file()]


class BrokerBundle:
    """The entry's exported bundle; its ACL comes from the read model's device topics."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        ca: CertificateAuthority,
        view: DeviceReadModel,
    ) -> None:
        """The bundle of the entry in ``settings``."""
        self._hass = hass
        self._settings = settings
        self._ca = ca
        self._view = view

    @property
    def directory(self) -> Path:
        """Where the bundle is written."""
        return bundle_directory(self._hass, self._settings.entry_id)

    def _report_left_out(self, left: list[LeftOut]) -> None:
        """One repair per device the ACL leaves out; cleared for every other device."""
        reasons = {item.mac: item.reason for item in left if item.mac}
        for item in left:
            _LOGGER.warning("Tasmota %s gets no ACL entry: %s", item.mac, item.reason)
        for mac in {*reasons, *self._view.devices}:
            async_set_issue(self._hass, ISSUE_ACL_LEFT_OUT, self._settings.entry_id,
                            mac in reasons, {"mac": mac, "reason": reasons.get(mac, "")},
                            mac=mac)  # fmt: skip

    async def async_push_next_fingerprint(self, fingerprint: str) -> list[str]:
        """Give every enrolled device the broker's next key as MqttFingerprint2.

        Sent before the broker switches keys, so devices that pin the key by fingerprint
        accept both the old and the new one and none is cut off.
        """
        if not self._settings.fingerprint_mode:
            return []
        sent = []
        for mac, state in self._view.devices.items():
            if not state.present or self._view.certificate(mac) is None:
                continue
            topic = state.device.command_topic("MqttFingerprint2")
            await mqtt.async_publish(self._hass, topic, fingerprint)
            sent.append(mac)
        return sent

    async def async_export(
        self, passphrase: str, layout: str, *, rotate: bool = False
    ) -> dict[str, Any]:
        """Write the bundle (issuing a broker certificate when needed); the action's response.

        A renewal keeps the broker key. ``rotate`` asks for a new one: it is staged first
        and its fingerprint sent to every device as MqttFingerprint2, and only then does
        the bundle get a certificate for it, so a device pinned by fingerprint accepts the
        broker before and after the broker reloads.
        """
        ca, settings = self._ca, self._settings
        before = ca.snapshot.broker_fingerprint if ca.snapshot else None
        out_dir = self.directory
        devices, invalid = self._view.device_topics()
        pushed: list[str] = []
        try:
            if rotate and (staged := await ca.async_stage_broker_key(passphrase)) is not None:
                pushed = await self.async_push_next_fingerprint(staged)
            result, new_key = await ca.async_write_broker_bundle(
                passphrase,
                settings.broker_host,
                out_dir,
                port=settings.broker_port,
                layout=layout,
                devices=devices,
                renew_before=settings.renew_window,
                deny=settings.deny,
                rotate=rotate,
            )
        except (PkiError, OSError) as err:
            # Whatever stopped the bundle, a revocation still reaches the exported CRL.
            await self._hass.async_add_executor_job(self._copy_crl, out_dir)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        self._report_left_out([*invalid, *result.left_out])
        after = ca.snapshot.broker_fingerprint if ca.snapshot else None
        if not pushed and new_key and before is not None and after is not None and after != before:
            # The store's first key replaced an imported certificate devices pinned: they
            # learn it as the next one before the broker serves it.
            pushed = await self.async_push_next_fingerprint(after)
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

    def _copy_crl(self, out_dir: Path) -> None:
        try:
            refresh_exported_crl(self._ca.store, out_dir)
        except (OSError, PkiError) as err:
            _LOGGER.warning("Could not update the exported CRL: %s", err)

    async def async_refresh(self, passphrase: str) -> None:
        """Rewrite an exported bundle so its ACL and CRL follow issuance and revocation.

        Only files whose content changed are written, so a broker that watches the folder
        reloads only when needed. Nothing happens when no bundle was exported. The CRL is
        copied first and on its own: no problem with the ACL or the broker files keeps a
        revocation from the broker.
        """
        store, settings = self._ca.store, self._settings
        out_dir = self.directory
        devices, invalid = self._view.device_topics()
        port, deny = settings.broker_port, settings.deny

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
            changed, left = await self._hass.async_add_executor_job(refresh)
        except (PkiError, OSError) as err:
            _LOGGER.warning("Could not update the exported broker bundle: %s", err)
            await self._hass.async_add_executor_job(self._copy_crl, out_dir)
            return
        self._report_left_out([*invalid, *left])
        if changed:
            _LOGGER.info(
                "Updated the exported broker bundle (%s); reload the broker", ", ".join(changed)
            )
