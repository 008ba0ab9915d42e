"""Buttons: enrol the device, renew its certificate."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import TasmotaTlsDeviceEntity
from .manager import SIGNAL_NEW_DEVICE, TlsManager
from .models import TasmotaTlsConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class TasmotaTlsButtonDescription(ButtonEntityDescription):
    """A button and what pressing it does."""

    press_fn: Callable[[TlsManager, str], Coroutine[Any, Any, None]]


BUTTONS = (
    TasmotaTlsButtonDescription(
        key="enrol",
        translation_key="enrol",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda manager, mac: manager.async_request(mac, "enrol"),
    ),
    TasmotaTlsButtonDescription(
        key="renew",
        translation_key="renew",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda manager, mac: manager.async_request(mac, "renew"),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Enrol and renew buttons per discovered device."""
    manager = entry.runtime_data.manager

    @callback
    def add(mac: str) -> None:
        async_add_entities(TasmotaTlsButton(manager, mac, description) for description in BUTTONS)

    for mac in list(manager.tracker.devices):
        add(mac)
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_NEW_DEVICE.format(entry.entry_id), add)
    )


class TasmotaTlsButton(TasmotaTlsDeviceEntity, ButtonEntity):
    """Starts an enrolment or renewal; the outcome shows on the TLS status sensor."""

    entity_description: TasmotaTlsButtonDescription

    async def async_press(self) -> None:
        """Start the operation (raises a translated error if it cannot start)."""
        await self.entity_description.press_fn(self.manager, self.mac)
