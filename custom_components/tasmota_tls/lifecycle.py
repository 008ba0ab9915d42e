"""Periodic care: renewals inside the window, a fresh CRL, expiry events and repairs."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util import dt as dt_util

from .broker_bundle import BrokerBundle
from .broker_renewal import async_check_broker_expiry
from .ca import CertificateAuthority
from .const import (
    CA_EXPIRY_WARNING_DAYS,
    CRL_REFRESH_WHEN_LEFT_DAYS,
    EVENT_CERTIFICATE_EXPIRED,
    EVENT_CERTIFICATE_EXPIRING,
)
from .custody import PassphraseCustody
from .events import DeviceEvents
from .issues import (
    ISSUE_BROKER_CERTIFICATE_MISSING,
    ISSUE_BROKER_NAME_MISMATCH,
    ISSUE_CA_EXPIRING,
    ISSUE_CRL_STALE,
    ISSUE_DEVICES_EXPIRING,
    ISSUE_FINGERPRINT_NEEDS_RSA,
    async_set_issue,
)
from .operations import OperationRunner
from .pki import PkiError
from .read_model import DeviceReadModel
from .settings import EntrySettings

_LOGGER = logging.getLogger(__name__)

CHECK_INTERVAL = dt.timedelta(hours=1)
# Devices announce themselves (and answer Status 6) shortly after start.
FIRST_DEVICE_CHECK = dt.timedelta(minutes=1)


class Lifecycle:
    """Runs :meth:`async_check` at start and every hour."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        settings: EntrySettings,
        ca: CertificateAuthority,
        view: DeviceReadModel,
        operations: OperationRunner,
        custody: PassphraseCustody,
        events: DeviceEvents,
        bundle: BrokerBundle,
    ) -> None:
        """Nothing runs until async_start."""
        self._hass = hass
        self._entry = entry
        self._settings = settings
        self._ca = ca
        self._view = view
        self._operations = operations
        self._custody = custody
        self._events = events
        self._bundle = bundle
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
        ca, settings = self._ca, self._settings
        entry_id = settings.entry_id
        snapshot = await ca.async_refresh()
        now = dt_util.utcnow()
        passphrase = self._custody.stored_passphrase()  # from the private secrets file

        crl_due = snapshot.crl_next_update is None or snapshot.crl_next_update - now < dt.timedelta(
            days=CRL_REFRESH_WHEN_LEFT_DAYS
        )
        if crl_due and passphrase:
            try:
                await ca.async_generate_crl(passphrase)
            except PkiError as err:
                _LOGGER.warning("Could not renew the CRL: %s", err)
            else:
                snapshot = ca.snapshot or snapshot
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
        snapshot = await async_check_broker_expiry(
            self._hass, settings, ca, self._bundle, snapshot, now, passphrase
        )
        self._check_broker(snapshot.broker_names)
        pinning = settings.fingerprint_mode
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
        self._view.async_notify()

    def _check_broker(self, broker_names: tuple[str, ...]) -> None:
        host = self._settings.broker_host.lower()
        reported = {
            state.mqtt_host
            for state in self._view.devices.values()
            if state.present
            and state.mqtt_tls
            and state.mqtt_host
            and state.mqtt_host.lower() != host
        }
        certificate_mismatch = bool(broker_names) and host not in broker_names
        async_set_issue(
            self._hass,
            ISSUE_BROKER_NAME_MISMATCH,
            self._settings.entry_id,
            certificate_mismatch or bool(reported),
            {
                "broker_host": host,
                "certificate_names": ", ".join(broker_names) or "-",
                "reported_hosts": ", ".join(sorted(reported)) or "-",
            },
        )

    def _check_devices(self, now: dt.datetime, passphrase: str | None) -> None:
        view, operations = self._view, self._operations
        window = self._settings.renew_window
        auto_renew = self._settings.auto_renew
        waiting: list[str] = []
        for mac, state in view.devices.items():
            certificate = view.certificate(mac)
            if certificate is None or certificate.status == "revoked" or not state.present:
                continue
            record = view.record(mac)
            if record is not None and not record.finished and not view.is_busy(mac):
                operations.async_resume(mac)
                continue
            if certificate.current_status(now) == "expired":
                self._announce(mac, EVENT_CERTIFICATE_EXPIRED, certificate.serial)
                continue
            left = certificate.not_after - now
            if left > window:
                continue
            self._announce(mac, EVENT_CERTIFICATE_EXPIRING, certificate.serial, days_left=left.days)
            if auto_renew and passphrase:
                if state.online and not view.is_busy(mac):
                    _LOGGER.info(
                        "Renewing the certificate of Tasmota %s (%s days left)", mac, left.days
                    )
                    operations.async_start_renewal(mac, passphrase)
            else:
                waiting.append(state.device.name)
        async_set_issue(
            self._hass,
            ISSUE_DEVICES_EXPIRING,
            self._settings.entry_id,
            bool(waiting),
            {"devices": ", ".join(sorted(waiting)), "days": str(window.days)},
            fixable=not passphrase,
        )

    def _announce(self, mac: str, kind: str, serial: str, **extra: object) -> None:
        if (kind, serial) in self._announced:
            return
        self._announced.add((kind, serial))
        self._events.fire(mac, kind, serial=serial, **extra)


def _date(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else "-"
