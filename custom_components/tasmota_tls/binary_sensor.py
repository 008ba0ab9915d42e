"""TLS connected: whether the device's MQTT link is TLS right now."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import TasmotaTlsDeviceEntity
from .manager import SIGNAL_NEW_DEVICE
from .models import TasmotaTlsConfigEntry

PARALLEL_UPDATES = 0

# The TLS status sensor is the primary view (it names every state); this on/off copy is
# for automations and the device page's diagnostics.
TLS_CONNECTED = BinarySensorEntityDescription(
    key="tls_connected",
    translation_key="tls_connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One binary sensor per discovered device, added as devices appear."""
    manager = entry.runtime_data.manager

    @callback
    def add(mac: str) -> None:
        async_add_entities([TlsConnectedSensor(manager, mac, TLS_CONNECTED)])

    for mac in list(manager.tracker.devices):
        add(mac)
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_NEW_DEVICE.format(entry.entry_id), add)
    )


class TlsConnectedSensor(TasmotaTlsDeviceEntity, BinarySensorEntity):
    """On while the device is online over TLS."""

    @property
    def is_on(self) -> bool:
        """Online, and Status 6 said TLS."""
        state = self.manager.device_state(self.mac)
        return state is not None and bool(state.online) and bool(state.mqtt_tls)
