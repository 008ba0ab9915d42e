"""TLS connected: whether the device's MQTT link is TLS right now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import TasmotaTlsDeviceEntity, async_add_device_entities
from .models import TasmotaTlsConfigEntry
from .read_model import DeviceReadModel

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class DeviceBinarySensorDescription(BinarySensorEntityDescription):
    """A device's on/off state, read from the read model by MAC."""

    value_fn: Callable[[DeviceReadModel, str], bool]


def _connected_tls(view: DeviceReadModel, mac: str) -> bool:
    state = view.device_state(mac)
    return state is not None and state.connected_tls


BINARY_SENSORS = (
    # The TLS status sensor is the primary view (it names every state); this on/off copy
    # is for automations and the device page's diagnostics.
    DeviceBinarySensorDescription(
        key="tls_connected",
        translation_key="tls_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_connected_tls,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One binary sensor per discovered device, added as devices appear."""
    async_add_device_entities(hass, entry, async_add_entities, DeviceBinarySensor, BINARY_SENSORS)


class DeviceBinarySensor(TasmotaTlsDeviceEntity, BinarySensorEntity):
    """On while the description's condition holds for the device."""

    entity_description: DeviceBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """Read from the read model."""
        return self.entity_description.value_fn(self.view, self.mac)
