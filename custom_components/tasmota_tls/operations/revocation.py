"""Revoking a device's certificate: the action, and the superseded or unproven ones."""

from __future__ import annotations

import logging

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from ..const import DOMAIN, EVENT_REVOKED
from ..device_state import TlsStatus
from ..pki import IndexEntry, PkiError
from .context import OperationContext

_LOGGER = logging.getLogger(__name__)


class Revocations:
    """Revokes certificates of one entry's devices, only ever one bound to the MAC."""

    def __init__(self, ctx: OperationContext) -> None:
        """Revocations with the entry's CA, bundle and repairs."""
        self._ctx = ctx

    async def async_revoke(
        self, mac: str, reason: str, passphrase: str | None, serial: str | None = None
    ) -> IndexEntry:
        """Revoke the device's certificate now, or an older one of it by serial (service call)."""
        ctx = self._ctx
        certificate = ctx.guard.certificate(mac)
        if serial is not None:
            certificate = ctx.guard.owned_certificate(mac, serial)
        if certificate is None or certificate.status == "revoked":
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_enrolled")
        secret = await ctx.custody.async_passphrase(passphrase)
        revoked = await self.async_revoke_serial(mac, certificate.serial, reason, secret)
        if revoked is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="revoke_failed")
        if serial is None:  # the Mosquitto add-on has no CRL: the login goes (no-op otherwise)
            ctx.entry.async_create_background_task(
                ctx.hass, ctx.addon.async_device_revoked(mac), f"{DOMAIN} add-on revoke {mac}"
            )
        return revoked

    async def async_revoke_serial(
        self, mac: str, serial: str, reason: str, passphrase: str | None
    ) -> IndexEntry | None:
        """Revoke ``serial``; None (and a log line) when it cannot be done now."""
        ctx = self._ctx
        if passphrase is None:
            # Attended custody after a restart: nobody is there to give the passphrase.
            _LOGGER.warning(
                "Tasmota %s uses a new certificate; revoke the old one (%s) with the revoke "
                "action and its serial",
                mac,
                serial,
            )
            return None
        try:
            entry = await ctx.ca.async_revoke(passphrase, serial, reason)
        except PkiError as err:
            _LOGGER.warning("Revoking certificate %s of Tasmota %s failed: %s", serial, mac, err)
            return None
        await ctx.bundle.async_refresh(passphrase)
        ctx.events.fire(mac, EVENT_REVOKED, serial=serial, reason=reason)
        # Still connected: the broker must cut it off.
        self.async_check_revoked(mac)
        ctx.view.async_notify(mac)
        return entry

    @callback
    def async_check_revoked(self, mac: str) -> None:
        """Raise or clear the repair of a revoked device the broker still serves."""
        view = self._ctx.view
        state = view.device_state(mac)
        connected = state is not None and state.present and state.connected_tls
        revoked = connected and view.status(mac) is TlsStatus.REVOKED
        self._ctx.failures.async_show_revoked(mac, state, revoked)
