"""Sensors: per device the certificate expiry and TLS status; per CA its dates and counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import CONF_VALIDATION, DEFAULT_VALIDATION, VALIDATION_FINGERPRINT
from .entity import TasmotaTlsCaEntity, TasmotaTlsDeviceEntity
from .failures import REASON_STATES, failure_reason
from .manager import SIGNAL_NEW_DEVICE, TlsManager
from .models import TasmotaTlsConfigEntry, TlsStatus, renew_window
from .progress import progress_attributes

PARALLEL_UPDATES = 0

CERTIFICATE_EXPIRY = SensorEntityDescription(
    key="certificate_expiry",
    translation_key="certificate_expiry",
    device_class=SensorDeviceClass.TIMESTAMP,
)
TLS_STATUS = SensorEntityDescription(
    key="tls_status",
    translation_key="tls_status",
    device_class=SensorDeviceClass.ENUM,
    options=[status.value for status in TlsStatus],
)
# Shown next to the TLS status on the device page, translated: why the last operation
# failed (attributes are collapsed in the UI, which hid the reason).
FAILURE_REASON = SensorEntityDescription(
    key="failure_reason",
    translation_key="failure_reason",
    device_class=SensorDeviceClass.ENUM,
    options=list(REASON_STATES),
)


@dataclass(frozen=True, kw_only=True)
class CaSensorDescription(SensorEntityDescription):
    """A CA-level sensor and how its value is read from the manager."""

    value_fn: Callable[[TlsManager], dt.datetime | int | None]


def _valid_certificates(manager: TlsManager) -> list[Any]:
    snapshot = manager.ca.snapshot
    return snapshot.valid_device_entries(dt_util.utcnow()) if snapshot else []


def _expiring(manager: TlsManager) -> int:
    limit = dt_util.utcnow() + renew_window(manager.entry)
    return sum(1 for entry in _valid_certificates(manager) if entry.not_after <= limit)


CA_SENSORS = (
    CaSensorDescription(
        key="ca_expiry",
        translation_key="ca_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda m: m.ca.snapshot.ca_not_after if m.ca.snapshot else None,
    ),
    CaSensorDescription(
        key="broker_certificate_expiry",
        translation_key="broker_certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda m: m.ca.snapshot.broker_not_after if m.ca.snapshot else None,
    ),
    CaSensorDescription(
        key="crl_next_update",
        translation_key="crl_next_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda m: m.ca.snapshot.crl_next_update if m.ca.snapshot else None,
    ),
    CaSensorDescription(
        key="enrolled_devices",
        translation_key="enrolled_devices",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda m: len(_valid_certificates(m)),
    ),
    CaSensorDescription(
        key="expiring_devices",
        translation_key="expiring_devices",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_expiring,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """CA sensors now; device sensors as devices are discovered."""
    manager = entry.runtime_data.manager
    async_add_entities(CaSensor(manager, description) for description in CA_SENSORS)

    @callback
    def add(mac: str) -> None:
        async_add_entities(
            [
                CertificateExpirySensor(manager, mac, CERTIFICATE_EXPIRY),
                TlsStatusSensor(manager, mac, TLS_STATUS),
                FailureReasonSensor(manager, mac, FAILURE_REASON),
            ]
        )

    for mac in list(manager.tracker.devices):
        add(mac)
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_NEW_DEVICE.format(entry.entry_id), add)
    )


class CaSensor(TasmotaTlsCaEntity, SensorEntity):
    """A date or a count about the whole CA."""

    entity_description: CaSensorDescription

    @property
    def native_value(self) -> dt.datetime | int | None:
        """Read from the CA snapshot."""
        return self.entity_description.value_fn(self.manager)


class CertificateExpirySensor(TasmotaTlsDeviceEntity, SensorEntity):
    """When the device's certificate expires."""

    @property
    def native_value(self) -> dt.datetime | None:
        """not_after of the certificate in use, if any."""
        certificate = self.manager.certificate(self.mac)
        return certificate.not_after if certificate else None


class TlsStatusSensor(TasmotaTlsDeviceEntity, SensorEntity):
    """not_enrolled, enrolling, connected_tls, ... with the details as attributes."""

    @property
    def native_value(self) -> str:
        """The device's TLS status."""
        return self.manager.status(self.mac).value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Serial, validation mode, fingerprint in use and the last failure, if any."""
        manager = self.manager
        options = manager.entry.options
        validation = options.get(CONF_VALIDATION, DEFAULT_VALIDATION)
        certificate = manager.certificate(self.mac)
        snapshot = manager.ca.snapshot
        attributes: dict[str, Any] = {
            "serial": certificate.serial if certificate else None,
            "validation_mode": validation,
            "fingerprint": (
                snapshot.broker_fingerprint
                if snapshot and validation == VALIDATION_FINGERPRINT
                else None
            ),
        }
        attributes.update(progress_attributes(manager, self.mac))
        record = manager.journal.records.get(self.mac)
        if record is not None:
            attributes["enrolment_step"] = str(record.step)
            if record.reason:
                attributes["failed_step"] = str(record.failed_step or record.step)
                attributes["failure_reason"] = record.reason
                attributes["failure_detail"] = record.detail
        return attributes


class FailureReasonSensor(TasmotaTlsDeviceEntity, SensorEntity):
    """Why the last enrolment or renewal failed (``none`` when it did not)."""

    @property
    def native_value(self) -> str:
        """A translated reason code."""
        return failure_reason(self.manager, self.mac)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The step it stopped at and the engine's detail (no secrets: model.py)."""
        record = self.manager.journal.records.get(self.mac)
        if record is None or failure_reason(self.manager, self.mac) == "none":
            return {}
        return {
            "operation": record.operation,
            "failed_step": str(record.failed_step or record.step),
            "reason_code": record.reason,
            "detail": record.detail,
        }
