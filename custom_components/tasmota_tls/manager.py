"""Runs enrolments, renewals and revocations for one entry and tracks their outcome.

The steps of an enrolment are the enrolment engine's. This module decides when to
run them, supplies the credential (issued in the executor) and the journal, and
turns the outcome into entity state, a ``tasmota_tls_event`` and a log line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .addon.hooks import AddonEnrolmentError, async_device_revoked, async_prepare_enrolment
from .address_guard import AddressGuard
from .address_pins import AddressPins
from .broker_bundle import async_refresh_exported_bundle
from .ca import CertificateAuthority
from .const import (
    CONF_AUTO_ENROL,
    CONF_BROKER_PORT,
    CONF_CUSTODY,
    CONF_MAX_PARALLEL_ENROLMENTS,
    CUSTODY_UNATTENDED,
    DEFAULT_AUTO_ENROL,
    DEFAULT_MAX_PARALLEL_ENROLMENTS,
    DOMAIN,
    EVENT_ENROLLED,
    EVENT_ENROLMENT_FAILED,
    EVENT_RENEWED,
    EVENT_REVOKED,
    EVENT_TASMOTA_TLS,
    FIRMWARE_DOCS_URL,
)
from .device_links import DeviceLinkFollower, device_for
from .discovery import TasmotaDevice
from .engine_options import engine_options
from .enrolment import (
    Enroller,
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
)
from .failures import async_check_revoked, async_failed, async_succeeded
from .issues import ISSUE_NO_TLSKEY_SUPPORT, async_set_issue
from .journal import EnrolmentJournal
from .models import DeviceState, TasmotaTlsConfigEntry, TlsStatus
from .naming import certificate_name
from .ownership import certificate_of, owned_entry
from .pki import IndexEntry, IssuedCredential, PkiError, WrongPassphraseError
from .progress import active_status
from .renewal_proof import async_confirm_renewal
from .secret_store import SecretStore
from .tracker import DeviceTracker

_LOGGER = logging.getLogger(__name__)

SIGNAL_NEW_DEVICE = f"{DOMAIN}_new_device_{{}}"
# After a restart, a pending enrolment whose device does not announce itself again
# within this time is marked failed rather than left pending.
RESUME_GRACE = dt.timedelta(minutes=2)
# An operation that broke off after the switch is looked at again this much later.
RESUME_RETRY = dt.timedelta(minutes=1)
# Engine timing that is not a user option; tests shorten it.
ENGINE_TIMING: dict[str, float] = {}

type Operation = Literal["enrol", "renew"]


class TlsManager:
    """Device list, enrolment state and the operations on one entry's devices."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TasmotaTlsConfigEntry,
        ca: CertificateAuthority,
        journal: EnrolmentJournal,
        secrets: SecretStore,
    ) -> None:
        """Wire the tracker; nothing is subscribed until async_start."""
        self.hass = hass
        self.entry = entry
        self.ca = ca
        self.journal = journal
        self.secrets = secrets
        self.pins = AddressPins(hass, entry.entry_id)
        self.guard = AddressGuard(self)
        self.tracker = DeviceTracker(
            hass,
            lambda: int(entry.data[CONF_BROKER_PORT]),
            self._device_added,
            self._device_changed,
        )
        self._listeners: dict[str | None, dict[CALLBACK_TYPE, None]] = {}
        self._ca_refresh: asyncio.Handle | None = None
        self._active: dict[str, Operation] = {}
        self.queued: set[str] = set()  # operations waiting for a free slot
        # Operations beyond this many wait their turn (an options change reloads the entry).
        self.max_parallel = int(
            entry.options.get(CONF_MAX_PARALLEL_ENROLMENTS, DEFAULT_MAX_PARALLEL_ENROLMENTS)
        )
        self._semaphore = asyncio.Semaphore(self.max_parallel)
        self._to_resume: dict[str, EnrolmentRecord] = {}
        self._transport: Any = None

    # ---- lifecycle -------------------------------------------------------------

    async def async_start(self) -> None:
        """Resume what a restart interrupted, then follow discovery."""
        self._to_resume = {record.mac: record for record in self.journal.pending()}
        await self.pins.async_load()
        DeviceLinkFollower(self.hass, self.entry, self.tracker.devices).async_start()
        await self.tracker.async_start()
        if self._to_resume:
            self.entry.async_on_unload(
                async_call_later(self.hass, RESUME_GRACE, self._give_up_on_missing)
            )

    @callback
    def async_stop(self) -> None:
        """Unsubscribe; running operations are cancelled with the entry's tasks."""
        self.tracker.async_stop()
        if self._ca_refresh is not None:
            self._ca_refresh.cancel()
            self._ca_refresh = None

    # ---- listeners ---------------------------------------------------------------

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE, mac: str | None = None) -> CALLBACK_TYPE:
        """Call ``update`` when device ``mac`` changes; without a MAC, when anything does.

        A device entity's ``async_write_ha_state`` is recognised by the entity's ``mac``.
        With hundreds of devices, refreshing every entity for each MQTT message of one
        enrolment would hold the event loop for a noticeable time.
        """
        if mac is None:
            mac = getattr(getattr(update, "__self__", None), "mac", None)
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
            self._ca_refresh = self.hass.loop.call_soon(self._refresh_ca_entities)

    @callback
    def _refresh_ca_entities(self) -> None:
        self._ca_refresh = None
        for update in list(self._listeners.get(None, {})):
            update()

    @callback
    def _device_added(self, state: DeviceState) -> None:
        async_dispatcher_send(
            self.hass, SIGNAL_NEW_DEVICE.format(self.entry.entry_id), state.device.mac
        )
        mac = state.device.mac
        self.guard.check(state)
        if self._to_resume.pop(mac, None) is not None:
            self.async_resume(mac)
        elif self._should_auto_enrol(mac):
            _LOGGER.info("Enrolling newly discovered Tasmota %s", mac)
            self._start(mac, "enrol", self._async_operate(mac, "enrol", self._stored_passphrase()))

    @callback
    def _device_changed(self, state: DeviceState) -> None:
        self.guard.check(state)
        async_check_revoked(self, state.device.mac)
        self.async_notify(state.device.mac)

    # ---- the address key material may go to (address_guard.py) ---------------------

    def _address_placeholders(self, mac: str) -> dict[str, str]:
        return self.guard.address_placeholders(mac)

    def address_changed(self, mac: str) -> bool:
        """True while the device announces an address other than the one it was enrolled at."""
        return self.guard.address_changed(mac)

    async def async_confirm_address(self, mac: str) -> None:
        """The user says the device really moved: pin the address it announces now."""
        state = self.tracker.devices.get(mac)
        if state is None:
            return
        _LOGGER.info("Tasmota %s: new address %s confirmed", mac, state.device.ip)
        await self.pins.async_pin(state.device)
        self.guard.check(state)
        self.async_notify(mac)

    def _should_auto_enrol(self, mac: str) -> bool:
        return (
            self.entry.options.get(CONF_AUTO_ENROL, DEFAULT_AUTO_ENROL)
            and self.entry.data[CONF_CUSTODY] == CUSTODY_UNATTENDED
            and mac not in self.journal.records  # never tried: a failure is not retried
            and self.certificate(mac) is None
            and self.guard.refusal(self.tracker.devices[mac].device) is None
        )

    # ---- state for entities ----------------------------------------------------------

    def device_state(self, mac: str) -> DeviceState | None:
        """The tracked state, if the device was discovered."""
        return self.tracker.devices.get(mac)

    def certificate(self, mac: str) -> IndexEntry | None:
        """The certificate issued for this MAC that the device uses (never one found by name)."""
        return certificate_of(self.ca.snapshot, self.journal, mac)

    def status(self, mac: str) -> TlsStatus:
        """The TLS status sensor's state."""
        record = self.journal.records.get(mac)
        if mac in self._active or (record is not None and not record.finished):
            return active_status(self, mac)
        state = self.tracker.devices.get(mac)
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

    @callback
    def async_resume(self, mac: str) -> None:
        """Continue a journaled enrolment that has not finished."""
        state, record = self.tracker.devices.get(mac), self.journal.records.get(mac)
        if state is None or record is None or record.finished or mac in self._active:
            return
        self._start(mac, record.operation, self._async_resume(state.device, record))

    @callback
    def async_start_renewal(self, mac: str, passphrase: str) -> None:
        """Renew in the background (lifecycle); a running operation is left alone."""
        if mac in self._active or mac not in self.tracker.devices or self.certificate(mac) is None:
            return
        if self.address_changed(mac):
            _LOGGER.warning("Tasmota %s is not renewed until its new address is confirmed", mac)
            return
        if self.guard.refusal(self.tracker.devices[mac].device) is not None:
            return  # its repair says why
        self._start(mac, "renew", self._async_operate(mac, "renew", passphrase))

    async def async_forget(self, mac: str) -> None:
        """Drop a device the user removed (its certificates stay in the CA's index)."""
        self.tracker.async_forget(mac)
        await self.journal.async_forget(mac)
        await self.pins.async_forget(mac)
        self.guard.forget(mac)
        self.async_notify()

    def expiring(self, window: dt.timedelta) -> list[str]:
        """Present devices whose valid certificate expires within ``window``."""
        now = dt_util.utcnow()
        found = []
        for mac, state in self.tracker.devices.items():
            certificate = self.certificate(mac)
            if (
                state.present
                and certificate is not None
                and certificate.current_status(now) == "valid"
                and certificate.not_after - now <= window
            ):
                found.append(mac)
        return found

    def is_busy(self, mac: str) -> bool:
        """True while an enrolment or renewal of the device runs."""
        return mac in self._active

    def active_operation(self, mac: str) -> Operation | None:
        """The operation queued or running for the device, if any."""
        return self._active.get(mac)

    # ---- operations ----------------------------------------------------------------

    async def async_request(
        self, mac: str, operation: Operation, passphrase: str | None = None
    ) -> None:
        """Check what can be checked now, then run the operation in the background.

        Raises a translated error when the device is unknown or busy, the passphrase
        is missing or wrong, or the broker's fingerprint is unknown.
        """
        state = self.tracker.devices.get(mac)
        if state is None or not state.present:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="device_not_discovered"
            )
        if mac in self._active:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="busy")
        if self.address_changed(mac):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="address_changed",
                translation_placeholders=self._address_placeholders(mac),
            )
        if (refusal := self.guard.refusal(state.device)) is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=refusal.kind,
                translation_placeholders=refusal.placeholders,
            )
        if operation == "renew" and self.certificate(mac) is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_enrolled")
        secret = await self.async_passphrase(passphrase)
        self.enrolment_options()  # raises when the options cannot work
        if mac in self._active:  # pressed again while the passphrase was checked
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="busy")
        self._start(mac, operation, self._async_operate(mac, operation, secret))

    async def async_passphrase(self, given: str | None) -> str:
        """The CA passphrase: kept (unattended) or given with the request (attended)."""
        secret = self._stored_passphrase() or given
        if not secret:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="passphrase_required"
            )
        try:
            await self.ca.async_check_passphrase(secret)
        except WrongPassphraseError:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="wrong_passphrase"
            ) from None
        except (PkiError, OSError) as err:  # a damaged or unreadable store, not the passphrase
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="store_error",
                translation_placeholders={"error": str(err)},
            ) from err
        return secret

    def _stored_passphrase(self) -> str | None:
        return self.stored_passphrase()

    def stored_passphrase(self) -> str | None:
        """The unattended passphrase from the private secrets file; None when attended."""
        if self.entry.data[CONF_CUSTODY] != CUSTODY_UNATTENDED:
            return None
        return self.secrets.passphrase

    def enrolment_options(
        self, mac: str | None = None, operation: str = "enrol"
    ) -> EnrolmentOptions:
        """Engine options from the entry; raises a translated error if unusable."""
        return engine_options(self, mac, operation, ENGINE_TIMING)

    def _enroller(self, mac: str | None = None, operation: str = "enrol") -> Enroller:
        if self._transport is None:
            from .enrolment.ha_transport import HomeAssistantTransport  # noqa: PLC0415

            self._transport = HomeAssistantTransport(self.hass)
        return Enroller(self._transport, self.enrolment_options(mac, operation))

    @callback
    def _start(self, mac: str, operation: Operation, job: Awaitable[None]) -> None:
        self._active[mac] = operation
        self.queued.add(mac)  # until a slot is free
        self.async_notify(mac)

        async def run() -> None:
            try:
                async with self._semaphore:
                    self.queued.discard(mac)
                    self.async_notify(mac)
                    await job
            finally:
                self.queued.discard(mac)
                self._active.pop(mac, None)
                self.async_notify(mac)

        self.entry.async_create_background_task(
            self.hass, run(), f"{DOMAIN} {operation} {mac}", eager_start=True
        )

    async def _async_operate(self, mac: str, operation: Operation, passphrase: str | None) -> None:
        state = self.tracker.devices[mac]
        device = state.device
        if self.pins.moved(device):
            # The address changed while the operation waited for its turn.
            await self._async_failed_outside_engine(
                mac, operation, "address_changed", "the new address is not confirmed yet"
            )
            return
        if (refusal := self.guard.refusal(device)) is not None:
            # Another device claimed the identity while this one waited: no key.
            await self._async_failed_outside_engine(
                mac, operation, refusal.kind, refusal.placeholders.get("claim")
            )
            return
        name = self.journal.names.get(mac) or certificate_name(device)
        current = self.certificate(mac)
        previous = current.serial if current is not None and current.status == "valid" else None
        if passphrase is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="passphrase_required"
            )
        try:  # the Mosquitto add-on: the device's own login first (no-op otherwise)
            await async_prepare_enrolment(self, mac, name)
        except AddonEnrolmentError as err:
            await self._async_failed_outside_engine(mac, operation, err.reason, err.detail)
            return

        async def issue() -> IssuedCredential:
            credential = await self.ca.async_issue_device(
                passphrase, name, device.topic, device.command_topic("TLSKey2"), mac
            )
            # Bound to this MAC before its key leaves Home Assistant.
            await self.journal.async_bind(credential.entry.serial, mac)
            # Before the switch: the broker's ACL must already know the new identity.
            await async_refresh_exported_bundle(self, passphrase)
            return credential

        def run(enroller: Enroller) -> Awaitable[EnrolmentRecord]:
            if operation == "renew":
                return enroller.renew(device, issue, self._async_journal)
            return enroller.enrol(device, issue, self._async_journal)

        record = await self._async_guard(mac, operation, run)
        if record is None:
            return
        if operation == "renew" and not await async_confirm_renewal(self, mac, record, passphrase):
            return
        await self.pins.async_pin(device)  # the address the key went to
        await self._async_succeeded(mac, operation, record, name, previous, passphrase)

    async def _async_resume(self, device: TasmotaDevice, record: EnrolmentRecord) -> None:
        _LOGGER.info("Resuming the interrupted %s of Tasmota %s", record.operation, device.mac)

        def run(enroller: Enroller) -> Awaitable[EnrolmentRecord]:
            return enroller.resume(device, record, self._async_journal)

        result = await self._async_guard(device.mac, record.operation, run)
        if result is not None and result.step == EnrolmentStep.FAILED:
            # resume() reports the device's state in the record instead of raising.
            step = result.failed_step or record.step
            reason = result.reason or "interrupted"
            self._report_failure(device.mac, record.operation, step, reason, result.detail)
        if result is not None and result.step == EnrolmentStep.DONE and result.serial:
            passphrase = self._stored_passphrase()
            if record.operation == "renew" and not await async_confirm_renewal(
                self, device.mac, result, passphrase
            ):
                return  # a resumed renewal needs the same evidence
            await self.pins.async_pin(device)
            name = self.journal.names.get(device.mac) or certificate_name(device)
            await self._async_succeeded(
                device.mac,
                record.operation,
                result,
                name,
                self.journal.certificates.get(device.mac),
                passphrase,
            )

    async def _async_guard(
        self,
        mac: str,
        operation: Operation,
        run: Callable[[Enroller], Awaitable[EnrolmentRecord]],
    ) -> EnrolmentRecord | None:
        """Run the engine; report a failure and return None."""
        try:
            return await run(self._enroller(mac, operation))
        except EnrolmentError as err:
            self._report_failure(mac, operation, err.step, err.reason, err.detail)
        except (HomeAssistantError, PkiError) as err:
            reason = getattr(err, "code", None) or getattr(err, "translation_key", None)
            await self._async_failed_outside_engine(mac, operation, reason or "error", str(err))
        except Exception:
            _LOGGER.exception("Tasmota %s: %s stopped unexpectedly", mac, operation)
            record = self.journal.records.get(mac)
            if record is not None and not record.finished and record.switched_at:
                # The switch went out: the device may well be on TLS. Look again later
                # (resume) rather than write it off.
                @callback
                def retry(_now: dt.datetime) -> None:
                    self.async_resume(mac)

                self.entry.async_on_unload(async_call_later(self.hass, RESUME_RETRY, retry))
            else:
                # Not switched: end as a visible failure, not as a silently stuck device.
                await self._async_failed_outside_engine(mac, operation, "internal_error", None)
        finally:
            if self.entry.data[CONF_CUSTODY] != CUSTODY_UNATTENDED:
                await self.hass.async_add_executor_job(self.ca.store.forget_passphrases)
        return None

    async def _async_failed_outside_engine(
        self, mac: str, operation: Operation, reason: str, detail: str | None
    ) -> None:
        """Journal and report a failure the engine did not record itself."""
        record = self.journal.records.get(mac)
        if record is None or record.finished:
            record = EnrolmentRecord.start(mac, operation)
        record.failed_step, record.step = record.step, EnrolmentStep.FAILED
        record.reason, record.detail = reason, detail
        await self.journal.async_record(record)
        self._report_failure(mac, operation, record.failed_step, reason, detail)

    async def _async_journal(self, record: EnrolmentRecord) -> None:
        await self.journal.async_record(record)
        self.async_notify(record.mac)

    async def _async_succeeded(
        self,
        mac: str,
        operation: Operation,
        record: EnrolmentRecord,
        name: str,
        previous: str | None,
        passphrase: str | None,
    ) -> None:
        assert record.serial is not None
        await self.journal.async_set_certificate(mac, record.serial, name)
        async_set_issue(self.hass, ISSUE_NO_TLSKEY_SUPPORT, self.entry.entry_id, False, mac=mac)
        async_succeeded(self, mac)
        kind = EVENT_RENEWED if operation == "renew" else EVENT_ENROLLED
        _LOGGER.info("Tasmota %s %s with certificate %s", mac, kind, record.serial)
        self.fire_event(mac, kind, serial=record.serial, previous_serial=previous)
        if previous and previous != record.serial:
            # The device has reconnected with the new certificate: the old one can go.
            await self._async_revoke_serial(mac, previous, "superseded", passphrase)
        await self.ca.async_refresh()
        await self.tracker.async_query_status(mac)
        self.async_notify(mac)

    async def async_revoke(
        self, mac: str, reason: str, passphrase: str | None, serial: str | None = None
    ) -> IndexEntry:
        """Revoke the device's certificate now, or an older one of it by serial (service call)."""
        certificate = self.certificate(mac)
        if serial is not None:
            certificate = self._own_certificate(mac, serial)
        if certificate is None or certificate.status == "revoked":
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_enrolled")
        secret = await self.async_passphrase(passphrase)
        revoked = await self._async_revoke_serial(mac, certificate.serial, reason, secret)
        if revoked is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="revoke_failed")
        if serial is None:  # the Mosquitto add-on has no CRL: the login goes (no-op otherwise)
            self.entry.async_create_background_task(
                self.hass, async_device_revoked(self, mac), f"{DOMAIN} add-on revoke {mac}"
            )
        return revoked

    def _own_certificate(self, mac: str, serial: str) -> IndexEntry | None:
        """A certificate issued for this MAC, by serial; None when it is another's."""
        return owned_entry(self.ca.snapshot, self.journal, mac, serial)

    async def _async_revoke_serial(
        self, mac: str, serial: str, reason: str, passphrase: str | None
    ) -> IndexEntry | None:
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
            entry = await self.ca.async_revoke(passphrase, serial, reason)
        except PkiError as err:
            _LOGGER.warning("Revoking certificate %s of Tasmota %s failed: %s", serial, mac, err)
            return None
        await async_refresh_exported_bundle(self, passphrase)
        self.fire_event(mac, EVENT_REVOKED, serial=serial, reason=reason)
        async_check_revoked(self, mac)  # still connected: the broker must cut it off
        self.async_notify(mac)
        return entry

    @callback
    def _report_failure(
        self, mac: str, operation: Operation, step: str, reason: str, detail: str | None
    ) -> None:
        _LOGGER.warning(
            "Tasmota %s: %s failed at step %s: %s%s",
            mac,
            operation,
            step,
            reason,
            f" ({detail})" if detail else "",
        )
        extra: dict[str, Any] = {"step": str(step), "reason": reason, "operation": operation}
        if reason == "no_tlskey_support":
            extra["help_url"] = FIRMWARE_DOCS_URL
            state = self.tracker.devices.get(mac)
            async_set_issue(
                self.hass,
                ISSUE_NO_TLSKEY_SUPPORT,
                self.entry.entry_id,
                True,
                {"name": state.device.name if state else mac, "url": FIRMWARE_DOCS_URL},
                mac=mac,
            )
        async_failed(self, mac, reason, detail)  # the repair that fits, the fleet notice
        self.fire_event(mac, EVENT_ENROLMENT_FAILED, **extra)
        self.async_notify(mac)

    @callback
    def _give_up_on_missing(self, _now: dt.datetime) -> None:
        for mac, record in list(self._to_resume.items()):
            del self._to_resume[mac]
            self.hass.async_create_task(self._async_mark_interrupted(record), eager_start=True)

    async def _async_mark_interrupted(self, record: EnrolmentRecord) -> None:
        failed_at = record.step
        record.failed_step, record.step = failed_at, EnrolmentStep.FAILED
        record.reason = "device_not_found"
        record.detail = "the device did not announce itself after Home Assistant restarted"
        await self.journal.async_record(record)
        self._report_failure(record.mac, record.operation, failed_at, record.reason, record.detail)

    # ---- events ------------------------------------------------------------------

    def ha_device_id(self, mac: str) -> str | None:
        """The device registry ID of the device our entities of ``mac`` are on."""
        device = device_for(self.hass, self.entry.entry_id, mac)
        return device.id if device else None

    @callback
    def fire_event(self, mac: str, kind: str, **extra: Any) -> None:
        """Fire ``tasmota_tls_event`` (never with key material)."""
        self.hass.bus.async_fire(
            EVENT_TASMOTA_TLS,
            {"device_id": self.ha_device_id(mac), "mac": mac, "type": kind, **extra},
        )
