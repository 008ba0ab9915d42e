"""The per-device view entities read, keyed by MAC, and the pushes that refresh them.

Per MAC: the tracked state, the certificate in use, the journal's last record, the TLS
status and whether an operation is queued or running. Every change is pushed to the
entities of that one MAC (and, once per loop pass, to the CA's entities): with hundreds
of devices, refreshing every entity for each MQTT message of one enrolment would hold
the event loop for a noticeable time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .address_guard import AddressGuard
from .broker.acl import DeviceTopics, LeftOut
from .ca import CaSnapshot, CertificateAuthority
from .device_state import DeviceState, Operation, TlsStatus
from .engine_options import EngineOptions
from .enrolment import EnrolmentRecord, EnrolmentStep
from .failures import failure_reason
from .journal import EnrolmentJournal
from .pki import IndexEntry
from .progress import progress_attributes
from .settings import EntrySettings


class DeviceReadModel:
    """What each device looks like now, and who to tell when it changes."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        ca: CertificateAuthority,
        devices: Mapping[str, DeviceState],
        guard: AddressGuard,
        journal: EnrolmentJournal,
        engine: EngineOptions,
    ) -> None:
        """``devices`` is the tracker's live device list; ``engine`` times the progress."""
        self._hass = hass
        self._settings = settings
        self._ca = ca
        self._devices = devices
        self._guard = guard
        self._journal = journal
        self._engine = engine
        self._listeners: dict[str | None, dict[CALLBACK_TYPE, None]] = {}
        self._ca_refresh: asyncio.Handle | None = None
        self._active: dict[str, Operation] = {}
        self._queued: set[str] = set()  # operations waiting for a free slot

    # ---- pushes ----------------------------------------------------------------------

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE, mac: str | None) -> CALLBACK_TYPE:
        """Call ``update`` when device ``mac`` changes; for ``None`` (the CA), when any does."""
        listeners = self._listeners.setdefault(mac, {})
        listeners[update] = None

        @callback
        def remove() -> None:
            listeners.pop(update, None)

        return remove

    @callback
    def async_notify(self, mac: str | None = None) -> None:
        """Tell entities to re-read their state: one device's (and the CA's), or all."""
        groups = list(self._listeners.values()) if mac is None else [self._listeners.get(mac, {})]
        for group in groups:
            for update in list(group):
                update()
        if mac is not None and self._ca_refresh is None:
            # The CA's entities count over all devices: once per loop pass is enough,
            # however many device messages that pass handled.
            self._ca_refresh = self._hass.loop.call_soon(self._refresh_ca_entities)

    @callback
    def _refresh_ca_entities(self) -> None:
        self._ca_refresh = None
        for update in list(self._listeners.get(None, {})):
            update()

    @callback
    def async_stop(self) -> None:
        """Drop a pending refresh of the CA's entities."""
        if self._ca_refresh is not None:
            self._ca_refresh.cancel()
            self._ca_refresh = None

    # ---- operations in flight (written by the operations runner) ----------------------

    @callback
    def mark_queued(self, mac: str, operation: Operation) -> None:
        """An operation waits for a free slot."""
        self._active[mac] = operation
        self._queued.add(mac)
        self.async_notify(mac)

    @callback
    def mark_running(self, mac: str) -> None:
        """The operation got its slot."""
        self._queued.discard(mac)
        self.async_notify(mac)

    @callback
    def mark_done(self, mac: str) -> None:
        """The operation ended, however it ended."""
        self._queued.discard(mac)
        self._active.pop(mac, None)
        self.async_notify(mac)

    def is_busy(self, mac: str) -> bool:
        """True while an enrolment or renewal of the device is queued or runs."""
        return mac in self._active

    def is_queued(self, mac: str) -> bool:
        """True while the device's operation waits for a free slot."""
        return mac in self._queued

    def active_operation(self, mac: str) -> Operation | None:
        """The operation queued or running for the device, if any."""
        return self._active.get(mac)

    # ---- the CA's view ------------------------------------------------------------------

    @property
    def snapshot(self) -> CaSnapshot | None:
        """The CA's index and dates as last read."""
        return self._ca.snapshot

    @property
    def validation(self) -> str:
        """How devices check the broker: ``fingerprint`` or ``ca``."""
        return self._settings.validation

    def pinned_fingerprint(self) -> str | None:
        """The broker key's fingerprint devices pin; None in CA validation."""
        snapshot = self._ca.snapshot
        return snapshot.broker_fingerprint if snapshot and self._settings.fingerprint_mode else None

    def valid_certificates(self) -> list[IndexEntry]:
        """Every device certificate of the CA that is valid now."""
        snapshot = self._ca.snapshot
        return snapshot.valid_device_entries(dt_util.utcnow()) if snapshot else []

    def expiring_certificates(self) -> int:
        """How many valid device certificates are inside the renewal window."""
        limit = dt_util.utcnow() + self._settings.renew_window
        return sum(1 for entry in self.valid_certificates() if entry.not_after <= limit)

    # ---- the devices' view --------------------------------------------------------------

    @property
    def devices(self) -> Mapping[str, DeviceState]:
        """Every tracked device by MAC (present or not)."""
        return self._devices

    def device_state(self, mac: str) -> DeviceState | None:
        """The tracked state, if the device was discovered."""
        return self._devices.get(mac)

    def record(self, mac: str) -> EnrolmentRecord | None:
        """The journal's record of the device's last operation."""
        return self._journal.records.get(mac)

    def certificate(self, mac: str) -> IndexEntry | None:
        """The certificate issued for this MAC that the device uses (never one found by name)."""
        return self._guard.certificate(mac)

    def certificate_serial(self, mac: str) -> str | None:
        """The serial of the certificate the device was last confirmed on, if any."""
        return self._journal.certificates.get(mac)

    def certificate_name(self, mac: str) -> str | None:
        """The name (CN) the device's certificate was issued with here, if any."""
        return self._journal.names.get(mac)

    def failure_reason(self, mac: str) -> str:
        """Why the device's last operation failed; ``none`` when it did not."""
        return failure_reason(self.record(mac))

    def device_topics(self) -> tuple[list[DeviceTopics], list[LeftOut]]:
        """The broker ACL's entries: every device that owns a certificate, pinned topics."""
        return self._guard.acl_entries()

    def status(self, mac: str) -> TlsStatus:
        """The TLS status sensor's state."""
        record = self.record(mac)
        if mac in self._active or (record is not None and not record.finished):
            return self._active_status(mac, record)
        state = self._devices.get(mac)
        online = state is not None and state.present and bool(state.online)
        tls = online and state is not None and bool(state.mqtt_tls)
        certificate = self.certificate(mac)
        if certificate is not None:
            current = certificate.current_status(dt_util.utcnow())
            if current == "revoked":
                return TlsStatus.REVOKED
            if current == "expired":
                return TlsStatus.EXPIRED
        if record is not None and record.step == EnrolmentStep.FAILED and not tls:
            return TlsStatus.FAILED
        if certificate is None:
            return TlsStatus.NOT_ENROLLED
        if not online:
            return TlsStatus.OFFLINE
        return TlsStatus.CONNECTED_TLS if tls else TlsStatus.CONNECTED_PLAIN

    def progress(self, mac: str) -> dict[str, Any]:
        """The running operation's step, rollback time and deadline; empty when none runs."""
        return progress_attributes(
            self.status(mac), self.record(mac), self._devices.get(mac), self._engine
        )

    def _active_status(self, mac: str, record: EnrolmentRecord | None) -> TlsStatus:
        """Queued, enrolling or renewing: "enrolling" alone hid a wait for a slot."""
        if mac in self._queued:
            return TlsStatus.QUEUED
        operation = self._active.get(mac)
        if operation is None and record is not None:
            operation = record.operation
        return TlsStatus.RENEWING if operation == "renew" else TlsStatus.ENROLLING

    def expiring(self, window: dt.timedelta) -> list[str]:
        """Present devices whose valid certificate expires within ``window``."""
        now = dt_util.utcnow()
        found = []
        for mac, state in self._devices.items():
            certificate = self.certificate(mac)
            if (
                state.present
                and certificate is not None
                and certificate.current_status(now) == "valid"
                and certificate.not_after - now <= window
            ):
                found.append(mac)
        return found
