"""Driving the config flow to the add-on's confirmation step."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.tasmota_tls.const import DOMAIN

PASSPHRASE = "add-on test passphrase"
BROKER_NAME = "localhost"


async def async_flow_to_confirm(hass: HomeAssistant) -> ConfigFlowResult:
    flow = hass.config_entries.flow
    result = await flow.async_init(DOMAIN, context={"source": "user"})
    result = await flow.async_configure(result["flow_id"], {"next_step_id": "create_ca"})
    result = await flow.async_configure(
        result["flow_id"],
        {
            "ca_name": "Add-on CA",
            "ca_algorithm": "rsa",
            "custody": "unattended",
            "passphrase": PASSPHRASE,
            "passphrase_confirm": PASSPHRASE,
        },
    )
    assert result["type"] is FlowResultType.MENU, result
    assert result["step_id"] == "addon_offer"
    assert result["menu_options"] == ["addon_broker", "broker"]
    result = await flow.async_configure(result["flow_id"], {"next_step_id": "addon_broker"})
    assert result["step_id"] == "addon_broker"
    result = await flow.async_configure(result["flow_id"], {"broker_host": BROKER_NAME})
    assert result["step_id"] == "addon_confirm", result
    return result
