"""Failures the user can read and act on: a reason per device, repairs, a fleet notice.

Every failure reason becomes a translated state of the device's *Last failure* sensor
(unknown codes show as ``other``, with the engine's detail as an attribute). Reasons the
user can do something about open a repair naming the device and the next step. When
several devices fail for the same reason, the cause is usually shared (the broker's TLS
listener, the broker name, the firmware of a whole batch): one persistent notification
says so instead of a repair per device only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import translation

from .const import DOMAIN, FIRMWARE_DOCS_URL
from .device_state import DeviceState
from .enrolment import EnrolmentRecord, EnrolmentStep
from .issues import (
    ISSUE_DEVICE_UNREACHABLE,
    ISSUE_NO_TLSKEY_SUPPORT,
    ISSUE_REVOKED_STILL_CONNECTED,
    ISSUE_ROLLED_BACK,
    async_set_issue,
    issue_id,
)
from .settings import EntrySettings

NO_FAILURE = "none"
OTHER_REASON = "other"
# The reasons the engine and the operations report (enrolment/model.py EnrolmentError).
REASONS = (
    "no_tlskey_support",
    "timeout",
    "length_mismatch",
    "certificate_too_large",
    "command_too_long",
    "http_unreachable",
    "auth_failed",
    "command_error",
    "rolled_back",
    "rollback_unconfirmed",
    "issue_failed",
    "interrupted",
    "ecdsa_unsupported",
    "renewal_unconfirmed",
    "identity_conflict",
    "topics_refused",
    "address_changed",
    "device_not_found",
    "unsupported_settings",
    "internal_error",
)
REASON_STATES = (NO_FAILURE, *REASONS, OTHER_REASON)

# Reason -> the repair that tells the user what to do.
_REPAIRS = {
    "no_tlskey_support": ISSUE_NO_TLSKEY_SUPPORT,
    "rolled_back": ISSUE_ROLLED_BACK,
    "timeout": ISSUE_DEVICE_UNREACHABLE,
    "http_unreachable": ISSUE_DEVICE_UNREACHABLE,
    "rollback_unconfirmed": ISSUE_DEVICE_UNREACHABLE,
    "device_not_found": ISSUE_DEVICE_UNREACHABLE,
}
_DEVICE_REPAIRS = frozenset(_REPAIRS.values())
# This many devices failing for one reason is a fleet-wide problem.
FLEET_THRESHOLD = 2


def failure_reason(record: EnrolmentRecord | None) -> str:
    """The sensor state: the reason of the device's failed last operation, else ``none``."""
    if record is None or record.step != EnrolmentStep.FAILED or not record.reason:
        return NO_FAILURE
    return record.reason if record.reason in REASONS else OTHER_REASON


def notification_id(entry_id: str) -> str:
    return f"{DOMAIN}_{entry_id}_fleet_failures"


class FailureRepairs:
    """The repairs and the fleet notice of one entry's failures."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        reasons: Callable[[], Iterable[str]],
    ) -> None:
        """``reasons`` gives every tracked device's failure reason (``none`` if fine)."""
        self._hass = hass
        self._settings = settings
        self._reasons = reasons

    @callback
    def async_failed(
        self, mac: str, state: DeviceState | None, reason: str, detail: str | None
    ) -> None:
        """Open the repair that fits ``reason`` (closing the others of the device)."""
        settings = self._settings
        placeholders = {
            "name": state.device.name if state else mac,
            "mac": mac,
            "ip": state.device.ip if state else "-",
            "detail": detail or "-",
            "url": FIRMWARE_DOCS_URL,
            "broker_host": settings.broker_host,
            "broker_port": str(settings.broker_port),
        }
        wanted = _REPAIRS.get(reason)
        for kind in _DEVICE_REPAIRS:
            active = kind == wanted
            async_set_issue(self._hass, kind, settings.entry_id, active,
                            placeholders if active else None, mac=mac)  # fmt: skip
        self._update_fleet_notice()

    @callback
    def async_succeeded(self, mac: str) -> None:
        """The device is fine now: its failure repairs go."""
        for kind in _DEVICE_REPAIRS:
            async_set_issue(self._hass, kind, self._settings.entry_id, False, mac=mac)
        self._update_fleet_notice()

    @callback
    def _update_fleet_notice(self) -> None:
        counts = Counter(reason for reason in self._reasons() if reason != NO_FAILURE)
        self._hass.async_create_task(
            async_update_fleet_notice(self._hass, self._settings, counts), eager_start=True
        )

    @callback
    def async_show_revoked(self, mac: str, state: DeviceState | None, shown_now: bool) -> None:
        """A revoked device that is still connected over TLS: say the broker must cut it off.

        A reload of the CRL does not close open connections; only a broker restart does,
        and the integration does not manage the broker, so the user has to do it.
        """
        hass, entry_id = self._hass, self._settings.entry_id
        shown = (
            ir.async_get(hass).async_get_issue(
                DOMAIN, issue_id(ISSUE_REVOKED_STILL_CONNECTED, entry_id, mac)
            )
            is not None
        )
        if shown_now == shown:
            return  # called on every update of the device: act only on a change
        placeholders = None
        if shown_now and state is not None:
            placeholders = {
                "name": state.device.name,
                "mac": mac,
                "broker_host": self._settings.broker_host,
            }
        async_set_issue(hass, ISSUE_REVOKED_STILL_CONNECTED, entry_id, shown_now, placeholders,
                        mac=mac)  # fmt: skip


async def async_update_fleet_notice(
    hass: HomeAssistant, settings: EntrySettings, counts: Counter[str]
) -> None:
    """One notification while several devices fail for the same reason; gone after."""
    entry_id = settings.entry_id
    shared = [(reason, n) for reason, n in counts.most_common() if n >= FLEET_THRESHOLD]
    if not shared:
        persistent_notification.async_dismiss(hass, notification_id(entry_id))
        return
    texts = await translation.async_get_translations(hass, hass.config.language, "entity", [DOMAIN])
    notices = await translation.async_get_translations(
        hass, hass.config.language, "exceptions", [DOMAIN]
    )
    prefix = f"component.{DOMAIN}.entity.sensor.failure_reason.state."
    line = notices.get(
        f"component.{DOMAIN}.exceptions.fleet_failure_line.message", "{count}: {reason}"
    )
    lines = [
        line.replace("{count}", str(n)).replace("{reason}", texts.get(prefix + reason, reason))
        for reason, n in shared
    ]
    title = notices.get(f"component.{DOMAIN}.exceptions.fleet_failure_title.message", DOMAIN)
    body = notices.get(f"component.{DOMAIN}.exceptions.fleet_failure.message", "{lines}")
    entry = hass.config_entries.async_get_entry(entry_id)  # its title as it is now
    persistent_notification.async_create(
        hass,
        body.replace("{lines}", "\n".join(f"- {text}" for text in lines)),
        title=title.replace("{name}", entry.title if entry else DOMAIN),
        notification_id=notification_id(entry_id),
    )
