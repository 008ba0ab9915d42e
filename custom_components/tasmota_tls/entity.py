"""Base entities: one set per Tasmota device, one for the CA itself."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .device_links import async_drop_replaced_own_device, mac_connection, tasmota_device
from .manager import TlsManager


class TasmotaTlsEntity(Entity):
    """Pushed updates from the manager; no polling."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, manager: TlsManager, description: EntityDescription) -> None:
        """Keep the manager; subclasses set the device and unique ID."""
        self.manager = manager
        self.entity_description = description

    async def async_added_to_hass(self) -> None:
        """Follow the manager's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(self.manager.async_add_listener(self.async_write_ha_state))


class TasmotaTlsDeviceEntity(TasmotaTlsEntity):
    """An entity attached to the Tasmota device through its MAC address."""

    def __init__(self, manager: TlsManager, mac: str, description: EntityDescription) -> None:
        """Link to the Tasmota integration's device for the MAC, else to one of ours.

        Linking (``device_entry``) keeps our config entry off the Tasmota device, which
        since Home Assistant 2026.8 belongs to the Tasmota entry alone (device_links.py).
        """
        super().__init__(manager, description)
        self.mac = mac
        state = manager.device_state(mac)
        assert state is not None
        device = state.device
        self._attr_unique_id = f"{manager.entry.entry_id}_{mac}_{description.key}"
        if (linked := tasmota_device(manager.hass, mac)) is not None:
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
        """Follow the manager; the last entity to move off our own device removes it."""
        await super().async_added_to_hass()
        async_drop_replaced_own_device(self.hass, self.manager.entry.entry_id, self.mac)

    @property
    def available(self) -> bool:
        """Unavailable once the device withdrew its discovery config."""
        state = self.manager.device_state(self.mac)
        return state is not None and state.present


class TasmotaTlsCaEntity(TasmotaTlsEntity):
    """An entity of the CA's service device."""

    def __init__(self, manager: TlsManager, description: EntityDescription) -> None:
        """One service device per entry (per CA)."""
        super().__init__(manager, description)
        entry = manager.entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Tasmota TLS",
            model="Certificate authority",
            entry_type=DeviceEntryType.SERVICE,
        )
