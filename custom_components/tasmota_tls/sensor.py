"""Sensors: per device its certificate expiry, TLS status and last failure; per CA dates, counts."""

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
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device_state import TlsStatus
from .entity import TasmotaTlsCaEntity, TasmotaTlsDeviceEntity, async_add_device_entities
from .failures import NO_FAILURE, REASON_STATES
from .models import TasmotaTlsConfigEntry
from .read_model import DeviceReadModel

PARALLEL_UPDATES = 0

type SensorValue = dt.datetime | int | str | None


@dataclass(frozen=True, kw_only=True)
class DeviceSensorDescription(SensorEntityDescription):
    """A device's sensor: its state and attributes, read from the read model by MAC."""

    value_fn: Callable[[DeviceReadModel, str], SensorValue]
    attributes_fn: Callable[[DeviceReadModel, str], dict[str, Any]] = lambda _view, _mac: {}


@dataclass(frozen=True, kw_only=True)
class CaSensorDescription(SensorEntityDescription):
    """A CA-level sensor and how its value is read from the read model."""

    value_fn: Callable[[DeviceReadModel], SensorValue]


def _expiry(view: DeviceReadModel, mac: str) -> dt.datetime | None:
    certificate = view.certificate(mac)
    return certificate.not_after if certificate else None


def _tls_attributes(view: DeviceReadModel, mac: str) -> dict[str, Any]:
    """Serial, validation mode, fingerprint in use, progress and the last failure, if any."""
    certificate = view.certificate(mac)
    attributes: dict[str, Any] = {
        "serial": certificate.serial if certificate else None,
        "validation_mode": view.validation,
        "fingerprint": view.pinned_fingerprint(),
    }
    attributes.update(view.progress(mac))
    record = view.record(mac)
    if record is not None:
        attributes["enrolment_step"] = str(record.step)
        if record.reason:
            attributes["failed_step"] = str(record.failed_step or record.step)
            attributes["failure_reason"] = record.reason
            attributes["failure_detail"] = record.detail
    return attributes


def _failure_attributes(view: DeviceReadModel, mac: str) -> dict[str, Any]:
    """The step it stopped at and the engine's detail (no secrets: model.py)."""
    record = view.record(mac)
    if record is None or view.failure_reason(mac) == NO_FAILURE:
        return {}
    return {
        "operation": record.operation,
        "failed_step": str(record.failed_step or record.step),
        "reason_code": record.reason,
        "detail": record.detail,
    }


DEVICE_SENSORS = (
    DeviceSensorDescription(
        key="certificate_expiry",
        translation_key="certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_expiry,
    ),
    # not_enrolled, enrolling, connected_tls, ... with the details as attributes.
    DeviceSensorDescription(
        key="tls_status",
        translation_key="tls_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in TlsStatus],
        value_fn=lambda view, mac: view.status(mac).value,
        attributes_fn=_tls_attributes,
    ),
    # Shown next to the TLS status on the device page, translated: why the last operation
    # failed (attributes are collapsed in the UI, which hid the reason).
    DeviceSensorDescription(
        key="failure_reason",
        translation_key="failure_reason",
        device_class=SensorDeviceClass.ENUM,
        options=list(REASON_STATES),
        value_fn=lambda view, mac: view.failure_reason(mac),
        attributes_fn=_failure_attributes,
    ),
)

CA_SENSORS = (
    CaSensorDescription(
        key="ca_expiry",
        translation_key="ca_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda view: view.snapshot.ca_not_after if view.snapshot else None,
    ),
    CaSensorDescription(
        key="broker_certificate_expiry",
        translation_key="broker_certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda view: view.snapshot.broker_not_after if view.snapshot else None,
    ),
    CaSensorDescription(
        key="crl_next_update",
        translation_key="crl_next_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: view.snapshot.crl_next_update if view.snapshot else None,
    ),
    CaSensorDescription(
        key="enrolled_devices",
        translation_key="enrolled_devices",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda view: len(view.valid_certificates()),
    ),
    CaSensorDescription(
        key="expiring_devices",
        translation_key="expiring_devices",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda view: view.expiring_certificates(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """CA sensors now; device sensors as devices are discovered."""
    async_add_entities(CaSensor(entry, description) for description in CA_SENSORS)
    async_add_device_entities(hass, entry, async_add_entities, DeviceSensor, DEVICE_SENSORS)


class CaSensor(TasmotaTlsCaEntity, SensorEntity):
    """A date or a count about the whole CA."""

    entity_description: CaSensorDescription

    @property
    def native_value(self) -> SensorValue:
        """Read from the CA snapshot."""
        return self.entity_description.value_fn(self.view)


class DeviceSensor(TasmotaTlsDeviceEntity, SensorEntity):
    """One value of one device."""

    entity_description: DeviceSensorDescription

    @property
    def native_value(self) -> SensorValue:
        """Read from the read model."""
        return self.entity_description.value_fn(self.view, self.mac)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The description's attributes; None when it has none (as before: no attributes)."""
        return self.entity_description.attributes_fn(self.view, self.mac) or None
