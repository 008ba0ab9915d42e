"""The config flow's steps for Home Assistant's Mosquitto add-on (mixed into the flow).

Under the Supervisor with the add-on installed, the broker step is preceded by an offer:
configure the add-on for me, or keep the broker bundle. Configuring shows every option
that changes and what that means for other clients; nothing is written before the user
picks "apply", and "decline" continues exactly as the bundle path does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult
from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig, SelectSelectorMode

from .addon import AddonError, AddonInfo, async_detect
from .addon.options import describe
from .addon.service import AddonBroker, AddonSetupError, Plan, async_get_broker
from .addon.service import port as addon_port
from .ca import store_directory
from .const import CONF_BROKER_HOST, CONF_BROKER_PORT, CONF_PASSPHRASE, CONF_STORE_ID
from .host_probe import async_probe_mqtt_hosts
from .pki import InvalidNameError
from .pki.names import parse_host

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlow

    _Base = ConfigFlow
else:
    _Base = object

_LOGGER = logging.getLogger(__name__)
CONF_ADDON_ACTION = "addon_action"
ACTION_APPLY = "apply"
ACTION_DECLINE = "decline"
ADDON_TLS_PORT = 8883  # the add-on's TLS listener; fixed in its configuration


class AddonFlowMixin(_Base):
    """Steps addon_offer, addon_broker and addon_confirm."""

    _data: dict[str, Any]
    _addon_checked = False
    _addon_info: AddonInfo | None = None
    _addon_plan: Plan | None = None
    _addon_result: ConfigFlowResult | None = None
    _entry_created: bool

    if TYPE_CHECKING:

        async def _async_finish(self) -> ConfigFlowResult: ...

    async def _async_addon_offer(self) -> ConfigFlowResult | None:
        """The offer, once per flow, when the add-on is installed; None otherwise."""
        if self._addon_checked:
            return None
        self._addon_checked = True
        self._addon_info = await async_detect(self.hass)
        if self._addon_info is None:
            return None
        return await self.async_step_addon_offer()

    async def async_step_addon_offer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The offer itself (a menu: the add-on, or the broker bundle)."""
        return self.async_show_menu(
            step_id="addon_offer",
            menu_options=["addon_broker", "broker"],
            description_placeholders={
                "version": (self._addon_info.version if self._addon_info else None) or "?"
            },
        )

    async def async_step_addon_broker(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The name devices reach Home Assistant's host by (MqttHost, the certificate's name)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                _, host = parse_host(user_input[CONF_BROKER_HOST])
            except InvalidNameError:
                errors[CONF_BROKER_HOST] = "invalid_host"
            else:
                self._data[CONF_BROKER_HOST] = host
                # The add-on's TLS port as reached from here (8883; tests map it).
                self._data[CONF_BROKER_PORT] = addon_port(ADDON_TLS_PORT)
                return await self.async_step_addon_confirm()
        reported = await async_probe_mqtt_hosts(self.hass)
        schema = vol.Schema(
            {vol.Required(CONF_BROKER_HOST, default=min(reported, default="")): str}
        )
        return self.async_show_form(
            step_id="addon_broker",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"port": str(ADDON_TLS_PORT)},
        )

    async def async_step_addon_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Every change, and its consequences; apply or decline."""
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None and user_input[CONF_ADDON_ACTION] == ACTION_DECLINE:
            if self._addon_result is not None:  # after a failed apply: the CA is kept
                self._entry_created = True
                return self._addon_result
            return await self._async_finish()
        if user_input is not None and self._addon_plan is not None:
            try:
                return await self._async_addon_apply(self._addon_plan)
            except AddonSetupError as err:
                errors["base"], detail = err.reason, err.detail
                _LOGGER.warning("Configuring the Mosquitto add-on failed: %s", err)
        try:
            # A new entry has no logins yet: planning needs no saved state.
            planner = AddonBroker(self.hass, self._data.get(CONF_STORE_ID, "pending"))
            self._addon_plan = await planner.async_plan()
        except (AddonError, OSError, ValueError) as err:
            errors["base"], detail = "addon_unreachable", str(err)
            self._addon_plan = None
        plan = self._addon_plan
        schema = vol.Schema(
            {
                vol.Required(CONF_ADDON_ACTION, default=ACTION_APPLY): SelectSelector(
                    SelectSelectorConfig(
                        options=[ACTION_APPLY, ACTION_DECLINE] if plan else [ACTION_DECLINE],
                        translation_key=CONF_ADDON_ACTION,
                        mode=SelectSelectorMode.LIST,
                    )
                )
            }
        )
        if plan is not None and plan.conflicts and "base" not in errors:
            errors["base"], detail = "addon_acl_conflict", ", ".join(plan.conflicts)
        return self.async_show_form(
            step_id="addon_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "changes": describe(plan.changes) if plan else "-",
                "folder": plan.folder if plan else "mosquitto",
                "other_logins": ", ".join(plan.other_logins) if plan and plan.other_logins else "-",
                "host": self._data.get(CONF_BROKER_HOST, ""),
                "detail": detail,  # read by the error texts only
            },
        )

    async def _async_addon_apply(self, plan: Plan) -> ConfigFlowResult:
        """Create the CA (as the bundle path does), then configure the add-on with it.

        The entry is created only once the add-on runs with our certificate. On a failure
        the options are put back (service.async_apply) and the user may retry or decline;
        the CA made for this flow is kept for the retry and removed if the flow is left.
        """
        if self._addon_result is None:
            self._addon_result = await self._async_finish()
            # Not created until this step returns it: async_remove cleans up if abandoned.
            self._entry_created = False
        store_id = self._data[CONF_STORE_ID]
        broker = await async_get_broker(self.hass, store_id)
        await broker.async_apply(
            plan,
            store_directory(self.hass, store_id),
            self._data[CONF_PASSPHRASE],
            self._data[CONF_BROKER_HOST],
        )
        self._entry_created = True
        return self._addon_result
