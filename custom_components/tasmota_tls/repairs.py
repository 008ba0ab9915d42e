"""Repair flows for attended custody: the CA passphrase is asked for, then used once."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .const import CONF_PASSPHRASE, DOMAIN
from .issues import ISSUE_CRL_STALE, ISSUE_DEVICES_EXPIRING, issue_id
from .models import TasmotaTlsConfigEntry, renew_window

_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PASSPHRASE): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        )
    }
)


class PassphraseRepairFlow(RepairsFlow):
    """Sign a fresh CRL, or renew the devices that are due, with the given passphrase."""

    def __init__(self, entry_id: str, kind: str) -> None:
        """Remember which entry and which issue."""
        self._entry_id = entry_id
        self._kind = kind

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Ask for the passphrase."""
        return await self.async_step_passphrase()

    async def async_step_passphrase(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Check the passphrase, then act on it."""
        entry: TasmotaTlsConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            manager = entry.runtime_data.manager
            try:
                passphrase = await manager.async_passphrase(user_input[CONF_PASSPHRASE])
            except ServiceValidationError:
                errors["base"] = "wrong_passphrase"
            else:
                if self._kind == ISSUE_CRL_STALE:
                    await manager.ca.async_generate_crl(passphrase)
                else:
                    for mac in manager.expiring(renew_window(entry)):
                        manager.async_start_renewal(mac, passphrase)
                ir.async_delete_issue(self.hass, DOMAIN, issue_id(self._kind, self._entry_id))
                manager.async_notify()
                return self.async_create_entry(data={})
        return self.async_show_form(step_id="passphrase", data_schema=_SCHEMA, errors=errors)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow for a fixable issue of this integration."""
    assert data is not None
    kind = str(data["kind"])
    assert kind in (ISSUE_CRL_STALE, ISSUE_DEVICES_EXPIRING)
    return PassphraseRepairFlow(str(data["entry_id"]), kind)
