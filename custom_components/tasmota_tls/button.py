"""Buttons: enrol the device, renew its certificate."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import TasmotaTlsDeviceEntity, async_add_device_entities
from .models import TasmotaTlsConfigEntry
from .operations import OperationRunner

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class TasmotaTlsButtonDescription(ButtonEntityDescription):
    """A button and what pressing it does."""

    press_fn: Callable[[OperationRunner, str], Coroutine[Any, Any, None]]


BUTTONS = (
    TasmotaTlsButtonDescription(
        key="enrol",
        translation_key="enrol",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda operations, mac: operations.async_request(mac, "enrol"),
    ),
    TasmotaTlsButtonDescription(
        key="renew",
        translation_key="renew",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda operations, mac: operations.async_request(mac, "renew"),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Enrol and renew buttons per discovered device."""
    async_add_device_entities(hass, entry, async_add_entities, TasmotaTlsButton, BUTTONS)


class TasmotaTlsButton(TasmotaTlsDeviceEntity, ButtonEntity):
    """Starts an enrolment or renewal; the outcome shows on the TLS status sensor."""

    entity_description: TasmotaTlsButtonDescription

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TasmotaTlsConfigEntry,
        mac: str,
        description: EntityDescription,
    ) -> None:
        """A button of the device ``mac``; presses go to the entry's operations."""
        super().__init__(hass, entry, mac, description)
        self._operations = entry.runtime_data.operations

    async def async_press(self) -> None:
        """Start the operation (raises a translated error if it cannot start)."""
        await self.entity_description.press_fn(self._operations, self.mac)
