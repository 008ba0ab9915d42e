"""Repair flows: the CA passphrase (attended custody), a new device address, the broker bundle."""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol
from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .broker_export import async_export_broker_bundle
from .const import ATTR_LAYOUT, CONF_PASSPHRASE, DOMAIN
from .issues import (
    ISSUE_ADDRESS_CHANGED,
    ISSUE_BROKER_CERTIFICATE_MISSING,
    ISSUE_CRL_STALE,
    ISSUE_DEVICES_EXPIRING,
    issue_id,
)
from .models import TasmotaTlsConfigEntry
from .pki import PkiError

_LOGGER = logging.getLogger(__name__)

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_SCHEMA = vol.Schema({vol.Required(CONF_PASSPHRASE): _PASSWORD})


_LAYOUT = SelectSelector(
    SelectSelectorConfig(
        options=["folder", "ha-addon", "server"],
        translation_key=ATTR_LAYOUT,  # the selector texts the action uses too
        mode=SelectSelectorMode.LIST,
    )
)


class _EntryRepairFlow(RepairsFlow):
    """A repair that acts through one loaded config entry."""

    def __init__(self, entry_id: str) -> None:
        """Remember which entry."""
        self._entry_id = entry_id

    def _loaded_entry(self) -> TasmotaTlsConfigEntry | None:
        entry: TasmotaTlsConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        return entry


class PassphraseRepairFlow(_EntryRepairFlow):
    """Sign a fresh CRL, or renew the devices that are due, with the given passphrase."""

    def __init__(self, entry_id: str, kind: str) -> None:
        """Remember which entry and which issue."""
        super().__init__(entry_id)
        self._kind = kind

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Ask for the passphrase."""
        return await self.async_step_passphrase()

    async def async_step_passphrase(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Check the passphrase, then act on it."""
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            data = entry.runtime_data
            try:
                passphrase = await data.custody.async_passphrase(user_input[CONF_PASSPHRASE])
                if self._kind == ISSUE_CRL_STALE:
                    await data.ca.async_generate_crl(passphrase)
            except ServiceValidationError:
                errors["base"] = "wrong_passphrase"
            except (HomeAssistantError, PkiError, OSError) as err:
                # A store that cannot be read or written: the form says so, the log says why.
                _LOGGER.error("The CA store could not be used: %s", err)
                errors["base"] = "store_error"
            else:
                if self._kind != ISSUE_CRL_STALE:
                    for mac in data.view.expiring(data.settings.renew_window):
                        data.operations.async_start_renewal(mac, passphrase)
                ir.async_delete_issue(self.hass, DOMAIN, self._our_issue_id)
                data.view.async_notify()
                return self.async_create_entry(data={})
        # A fixable issue shows no description: the step repeats its facts (dates, devices).
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self._our_issue_id)
        placeholders = issue.translation_placeholders if issue else None
        return self.async_show_form(
            step_id="passphrase",
            data_schema=_SCHEMA,
            errors=errors,
            description_placeholders=dict(placeholders or {}),
        )

    @property
    def _our_issue_id(self) -> str:
        return issue_id(self._kind, self._entry_id)


class AddressConfirmFlow(_EntryRepairFlow):
    """The user confirms that a device really moved to the address it now announces."""

    def __init__(self, entry_id: str, mac: str) -> None:
        """Remember which entry and which device."""
        super().__init__(entry_id)
        self._mac = mac

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Show both addresses."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Pin the new address once confirmed."""
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        data = entry.runtime_data
        if not data.guard.address_changed(self._mac):
            return self.async_abort(reason="address_unchanged")
        if user_input is not None:
            await data.feed.async_confirm_address(self._mac)
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(
            DOMAIN, issue_id(ISSUE_ADDRESS_CHANGED, self._entry_id, self._mac)
        )
        placeholders = issue.translation_placeholders if issue else None
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=dict(placeholders or {}),
        )


class BrokerBundleRepairFlow(_EntryRepairFlow):
    """Export the broker bundle, which issues the broker certificate fingerprint mode pins.

    The same code as the export_broker_bundle action; the last step says where the files
    are and what the broker needs, since the repair itself cannot install them.
    """

    def __init__(self, entry_id: str) -> None:
        """Remember which entry."""
        super().__init__(entry_id)
        self._placeholders: dict[str, str] = {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Ask for the layout (and the passphrase in attended custody)."""
        return await self.async_step_export()

    async def async_step_export(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Write the bundle."""
        if (entry := self._loaded_entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        custody = entry.runtime_data.custody
        attended = custody.stored_passphrase() is None
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                passphrase = await custody.async_passphrase(user_input.get(CONF_PASSPHRASE))
                response = await async_export_broker_bundle(
                    entry, passphrase, user_input[ATTR_LAYOUT]
                )
            except ServiceValidationError:
                errors["base"] = "wrong_passphrase"
            except HomeAssistantError as err:  # the export's translated failure
                _LOGGER.error("The broker bundle could not be written: %s", err)
                errors["base"] = "export_failed"
                self._placeholders = {"error": str(err)}
            else:
                self._placeholders = {
                    "directory": str(response["directory"]),
                    "readme": str(response["files"].get("readme", "-")),
                }
                return await self.async_step_done()
        schema: dict[Any, Any] = {vol.Required(ATTR_LAYOUT, default="folder"): _LAYOUT}
        if attended:
            schema[vol.Required(CONF_PASSPHRASE)] = _PASSWORD
        return self.async_show_form(
            step_id="export",
            data_schema=vol.Schema(schema),
            errors=errors,
            description_placeholders=self._placeholders if errors else None,
        )

    async def async_step_done(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Where the files are, and that the broker must be given them."""
        if user_input is not None:
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="done", data_schema=vol.Schema({}), description_placeholders=self._placeholders
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow for a fixable issue of this integration."""
    assert data is not None
    kind = str(data["kind"])
    if kind == ISSUE_ADDRESS_CHANGED:
        return AddressConfirmFlow(str(data["entry_id"]), str(data["mac"]))
    if kind == ISSUE_BROKER_CERTIFICATE_MISSING:
        return BrokerBundleRepairFlow(str(data["entry_id"]))
    assert kind in (ISSUE_CRL_STALE, ISSUE_DEVICES_EXPIRING)
    return PassphraseRepairFlow(str(data["entry_id"]), kind)
