"""The options flow: renewal window, automation switches, validation mode and channel."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)

from .ca import store_directory
from .config_flow_schema import DEFAULT_OPTIONS, MULTILINE, PASSWORD, PORT, broker_key_is_ec, select
from .const import (
    CHANNEL_HTTP,
    CHANNEL_MQTT,
    CONF_ACL_DENY,
    CONF_AUTO_ENROL,
    CONF_AUTO_RENEW,
    CONF_CHANNEL,
    CONF_HTTP_PORT,
    CONF_MAX_PARALLEL_ENROLMENTS,
    CONF_RENEW_DAYS,
    CONF_RENEW_OVER_TLS,
    CONF_ROLLBACK_MINUTES,
    CONF_STORE_ID,
    CONF_VALIDATION,
    CONF_WEB_PASSWORD,
    DEFAULT_ACL_DENY,
    DEFAULT_MAX_PARALLEL_ENROLMENTS,
    DEFAULT_RENEW_OVER_TLS,
    MAX_PARALLEL_ENROLMENTS_LIMIT,
    VALIDATION_CA,
    VALIDATION_FINGERPRINT,
)
from .secret_store import secrets_path, write_secrets


def _options_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_RENEW_DAYS): NumberSelector(
                NumberSelectorConfig(min=1, max=180, mode=NumberSelectorMode.BOX)
            ),
            vol.Required(CONF_AUTO_RENEW): BooleanSelector(),
            vol.Required(CONF_AUTO_ENROL): BooleanSelector(),
            vol.Required(CONF_VALIDATION): select(
                CONF_VALIDATION, [VALIDATION_FINGERPRINT, VALIDATION_CA]
            ),
            vol.Required(CONF_CHANNEL): select(CONF_CHANNEL, [CHANNEL_HTTP, CHANNEL_MQTT]),
            vol.Required(CONF_HTTP_PORT): PORT,
            vol.Optional(CONF_WEB_PASSWORD): PASSWORD,
            vol.Required(CONF_ROLLBACK_MINUTES): NumberSelector(
                NumberSelectorConfig(min=1, max=60, mode=NumberSelectorMode.BOX)
            ),
            vol.Required(
                CONF_MAX_PARALLEL_ENROLMENTS, default=DEFAULT_MAX_PARALLEL_ENROLMENTS
            ): NumberSelector(
                NumberSelectorConfig(
                    min=1, max=MAX_PARALLEL_ENROLMENTS_LIMIT, mode=NumberSelectorMode.BOX
                )
            ),
            vol.Required(CONF_RENEW_OVER_TLS, default=DEFAULT_RENEW_OVER_TLS): BooleanSelector(),
            vol.Required(CONF_ACL_DENY, default=DEFAULT_ACL_DENY): MULTILINE,
        }
    )


class TasmotaTlsOptionsFlow(OptionsFlow):
    """Renewal window, automation switches, validation mode and channel."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option."""
        errors: dict[str, str] = {}
        if user_input is not None and user_input[CONF_VALIDATION] == VALIDATION_FINGERPRINT:
            store_dir = store_directory(self.hass, self.config_entry.data[CONF_STORE_ID])
            if await self.hass.async_add_executor_job(broker_key_is_ec, store_dir):
                errors[CONF_VALIDATION] = "fingerprint_needs_rsa"
        if user_input is not None and not errors:
            user_input[CONF_RENEW_DAYS] = int(user_input[CONF_RENEW_DAYS])
            user_input[CONF_HTTP_PORT] = int(user_input[CONF_HTTP_PORT])
            user_input[CONF_ROLLBACK_MINUTES] = int(user_input[CONF_ROLLBACK_MINUTES])
            user_input[CONF_MAX_PARALLEL_ENROLMENTS] = int(user_input[CONF_MAX_PARALLEL_ENROLMENTS])
            # The web password goes to the private secrets file, never into the options;
            # it is never shown again: left empty, the old one stays.
            if password := user_input.pop(CONF_WEB_PASSWORD, None):
                path = secrets_path(self.hass, self.config_entry.data[CONF_STORE_ID])
                await self.hass.async_add_executor_job(
                    write_secrets, path, {CONF_WEB_PASSWORD: password}
                )
            return self.async_create_entry(data=user_input)
        current = {**DEFAULT_OPTIONS, **self.config_entry.options}
        current.pop(CONF_WEB_PASSWORD, None)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(_options_schema(), current),
            errors=errors,
        )
