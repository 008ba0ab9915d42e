"""Base entities (one set per Tasmota device, one for the CA) and the device platforms' set-up."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN, SIGNAL_NEW_DEVICE
from .device_links import async_drop_replaced_own_device, mac_connection, tasmota_device
from .models import TasmotaTlsConfigEntry


class TasmotaTlsEntity(Entity):
    """Pushed updates from the read model; no polling."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _listen_mac: str | None = None  # the device whose changes refresh it; None: the CA

    def __init__(self, entry: TasmotaTlsConfigEntry, description: EntityDescription) -> None:
        """Keep the entry's read model; subclasses set the device and unique ID."""
        self.view = entry.runtime_data.view
        self.entity_description = description

    async def async_added_to_hass(self) -> None:
        """Follow the read model's pushes for our MAC (or the CA's)."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.view.async_add_listener(self.async_write_ha_state, self._listen_mac)
        )


class TasmotaTlsDeviceEntity(TasmotaTlsEntity):
    """An entity attached to the Tasmota device through its MAC address."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TasmotaTlsConfigEntry,
        mac: str,
        description: EntityDescription,
    ) -> None:
        """Link to the Tasmota integration's device for the MAC, else to one of ours.

        Linking (``device_entry``) keeps our config entry off the Tasmota device, which
        since Home Assistant 2026.8 belongs to the Tasmota entry alone (device_links.py).
        """
        super().__init__(entry, description)
        self.mac = self._listen_mac = mac
        self._entry_id = entry.entry_id
        state = self.view.device_state(mac)
        assert state is not None
        device = state.device
        self._attr_unique_id = f"{entry.entry_id}_{mac}_{description.key}"
        if (linked := tasmota_device(hass, mac)) is not None:
            self.device_entry = linked
        else:
            self._attr_device_info = DeviceInfo(
                connections={mac_connection(mac)},
                identifiers={(DOMAIN, mac)},
                name=device.name,
                manufacturer="Tasmota",
                model=device.model or None,
                sw_version=device.firmware or None,
            )

    async def async_added_to_hass(self) -> None:
        """Follow the read model; the last entity to move off our own device removes it."""
        await super().async_added_to_hass()
        async_drop_replaced_own_device(self.hass, self._entry_id, self.mac)

    @property
    def available(self) -> bool:
        """Unavailable once the device withdrew its discovery config."""
        state = self.view.device_state(self.mac)
        return state is not None and state.present


class TasmotaTlsCaEntity(TasmotaTlsEntity):
    """An entity of the CA's service device."""

    def __init__(self, entry: TasmotaTlsConfigEntry, description: EntityDescription) -> None:
        """One service device per entry (per CA)."""
        super().__init__(entry, description)
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Tasmota TLS",
            model="Certificate authority",
            entry_type=DeviceEntryType.SERVICE,
        )


@callback
def async_add_device_entities(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entity_class: type[TasmotaTlsDeviceEntity],
    descriptions: Iterable[EntityDescription],
) -> None:
    """One ``entity_class`` per description for every device: those known now, then new ones."""
    descriptions = tuple(descriptions)

    @callback
    def add(mac: str) -> None:
        async_add_entities(
            entity_class(hass, entry, mac, description) for description in descriptions
        )

    for mac in list(entry.runtime_data.view.devices):
        add(mac)
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_NEW_DEVICE.format(entry.entry_id), add)
    )
