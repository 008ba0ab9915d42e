"""Periodic care: renewals inside the window, a fresh CRL, expiry events and repairs."""

from __future__ import annotations

import datetime as dt
import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util import dt as dt_util

from .broker_renewal import async_check_broker_expiry
from .const import (
    CA_EXPIRY_WARNING_DAYS,
    CONF_AUTO_RENEW,
    CONF_BROKER_HOST,
    CONF_VALIDATION,
    CRL_REFRESH_WHEN_LEFT_DAYS,
    DEFAULT_AUTO_RENEW,
    DEFAULT_VALIDATION,
    EVENT_CERTIFICATE_EXPIRED,
    EVENT_CERTIFICATE_EXPIRING,
    VALIDATION_FINGERPRINT,
)
from .issues import (
    ISSUE_BROKER_CERTIFICATE_MISSING,
    ISSUE_BROKER_NAME_MISMATCH,
    ISSUE_CA_EXPIRING,
    ISSUE_CRL_STALE,
    ISSUE_DEVICES_EXPIRING,
    ISSUE_FINGERPRINT_NEEDS_RSA,
    async_set_issue,
)
from .manager import TlsManager
from .models import TasmotaTlsConfigEntry, renew_window
from .pki import PkiError

_LOGGER = logging.getLogger(__name__)

CHECK_INTERVAL = dt.timedelta(hours=1)
# Devices announce themselves (and answer Status 6) shortly after start.
FIRST_DEVICE_CHECK = dt.timedelta(minutes=1)


class Lifecycle:
    """Runs :meth:`async_check` at start and every hour."""

    def __init__(self, hass: HomeAssistant, entry: TasmotaTlsConfigEntry, manager: TlsManager):
        """Nothing runs until async_start."""
        self._hass = hass
        self._entry = entry
        self._manager = manager
        self._announced: set[tuple[str, str]] = set()  # (event type, serial)

    async def async_start(self) -> None:
        """Check now, once more when discovery has settled, then every CHECK_INTERVAL."""
        await self.async_check()
        self._entry.async_on_unload(
            async_call_later(self._hass, FIRST_DEVICE_CHECK, self._scheduled)
        )
        self._entry.async_on_unload(
            async_track_time_interval(self._hass, self._scheduled, CHECK_INTERVAL)
        )

    @callback
    def _scheduled(self, _now: dt.datetime) -> None:
        self._entry.async_create_background_task(
            self._hass, self.async_check(), "tasmota_tls lifecycle check"
        )

    async def async_check(self) -> None:
        """One pass over the CA, the CRL, the broker certificate and every device."""
        manager, entry = self._manager, self._entry
        entry_id = entry.entry_id
        snapshot = await manager.ca.async_refresh()
        now = dt_util.utcnow()
        passphrase = manager.stored_passphrase()  # from the private secrets file

        crl_due = snapshot.crl_next_update is None or snapshot.crl_next_update - now < dt.timedelta(
            days=CRL_REFRESH_WHEN_LEFT_DAYS
        )
        if crl_due and passphrase:
            try:
                await manager.ca.async_generate_crl(passphrase)
            except PkiError as err:
                _LOGGER.warning("Could not renew the CRL: %s", err)
            else:
                snapshot = manager.ca.snapshot or snapshot
                crl_due = False
        async_set_issue(
            self._hass,
            ISSUE_CRL_STALE,
            entry_id,
            crl_due and snapshot.crl_next_update is not None,
            {"next_update": _date(snapshot.crl_next_update)},
            fixable=not passphrase,  # attended: the repair asks for the passphrase
        )

        async_set_issue(
            self._hass,
            ISSUE_CA_EXPIRING,
            entry_id,
            snapshot.ca_not_after - now < dt.timedelta(days=CA_EXPIRY_WARNING_DAYS),
            {"name": snapshot.ca_name, "expires": _date(snapshot.ca_not_after)},
        )
        snapshot = await async_check_broker_expiry(self._hass, manager, snapshot, now, passphrase)
        self._check_broker(snapshot.broker_names)
        pinning = entry.options.get(CONF_VALIDATION, DEFAULT_VALIDATION) == VALIDATION_FINGERPRINT
        broker_known = snapshot.broker_not_after is not None
        # Fixable: its repair exports the broker bundle, which issues the certificate.
        async_set_issue(
            self._hass,
            ISSUE_BROKER_CERTIFICATE_MISSING,
            entry_id,
            pinning and not broker_known,
            fixable=True,
        )
        # A broker certificate with an EC key: no device can pin it (RSA only).
        async_set_issue(
            self._hass,
            ISSUE_FINGERPRINT_NEEDS_RSA,
            entry_id,
            pinning and broker_known and snapshot.broker_fingerprint is None,
            {"names": ", ".join(snapshot.broker_names) or "-"},
        )
        self._check_devices(now, passphrase)
        manager.async_notify()

    def _check_broker(self, broker_names: tuple[str, ...]) -> None:
        host = str(self._entry.data[CONF_BROKER_HOST]).lower()
        reported = {
            state.mqtt_host
            for state in self._manager.tracker.devices.values()
            if state.present
            and state.mqtt_tls
            and state.mqtt_host
            and state.mqtt_host.lower() != host
        }
        certificate_mismatch = bool(broker_names) and host not in broker_names
        async_set_issue(
            self._hass,
            ISSUE_BROKER_NAME_MISMATCH,
            self._entry.entry_id,
            certificate_mismatch or bool(reported),
            {
                "broker_host": host,
                "certificate_names": ", ".join(broker_names) or "-",
                "reported_hosts": ", ".join(sorted(reported)) or "-",
            },
        )

    def _check_devices(self, now: dt.datetime, passphrase: str | None) -> None:
        manager, entry = self._manager, self._entry
        window = renew_window(entry)
        auto_renew = entry.options.get(CONF_AUTO_RENEW, DEFAULT_AUTO_RENEW)
        waiting: list[str] = []
        for mac, state in manager.tracker.devices.items():
            certificate = manager.certificate(mac)
            if certificate is None or certificate.status == "revoked" or not state.present:
                continue
            record = manager.journal.records.get(mac)
            if record is not None and not record.finished and not manager.is_busy(mac):
                manager.async_resume(mac)
                continue
            if certificate.current_status(now) == "expired":
                self._announce(mac, EVENT_CERTIFICATE_EXPIRED, certificate.serial)
                continue
            left = certificate.not_after - now
            if left > window:
                continue
            self._announce(mac, EVENT_CERTIFICATE_EXPIRING, certificate.serial, days_left=left.days)
            if auto_renew and passphrase:
                if state.online and not manager.is_busy(mac):
                    _LOGGER.info(
                        "Renewing the certificate of Tasmota %s (%s days left)", mac, left.days
                    )
                    manager.async_start_renewal(mac, passphrase)
            else:
                waiting.append(state.device.name)
        async_set_issue(
            self._hass,
            ISSUE_DEVICES_EXPIRING,
            entry.entry_id,
            bool(waiting),
            {"devices": ", ".join(sorted(waiting)), "days": str(window.days)},
            fixable=not passphrase,
        )

    def _announce(self, mac: str, kind: str, serial: str, **extra: object) -> None:
        if (kind, serial) in self._announced:
            return
        self._announced.add((kind, serial))
        self._manager.fire_event(mac, kind, serial=serial, **extra)


def _date(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else "-"
