"""Config flow for Tasmota TLS: one entry is one CA and one broker.

Home Assistant loads this module. The CA steps are in config_flow_ca.py, the Mosquitto
add-on's in config_flow_addon.py, the options flow in config_flow_options.py and what
their forms share in config_flow_schema.py. Here: discovery, the broker step and its
warnings, reconfigure, and creating the entry.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigFlowResult
from homeassistant.core import callback
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .broker_check import async_check_broker
from .ca import create_ca, remove_store
from .config_flow_addon import AddonFlowMixin
from .config_flow_ca import CaFlowMixin
from .config_flow_options import TasmotaTlsOptionsFlow
from .config_flow_schema import DEFAULT_OPTIONS, broker_key_is_ec, broker_schema, parse_broker
from .const import (
    CA_SOURCE_CREATE,
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CA_ALGORITHM,
    CONF_CA_SOURCE,
    CONF_CUSTODY,
    CONF_PASSPHRASE,
    CONF_STORE_ID,
    CONF_VALIDATION,
    CUSTODY_UNATTENDED,
    DEFAULT_CA_NAME,
    DEFAULT_TLS_PORT,
    DOMAIN,
    VALIDATION_CA,
)
from .discovery_offer import async_will_of_a_tasmota, is_tasmota_config_topic
from .host_probe import async_probe_mqtt_hosts
from .secret_store import secrets_path, write_secrets

# Other modules and the tests take these from here, where they have always been.
__all__ = ["DEFAULT_OPTIONS", "TasmotaTlsConfigFlow", "TasmotaTlsOptionsFlow"]


class TasmotaTlsConfigFlow(AddonFlowMixin, CaFlowMixin, ConfigFlow, domain=DOMAIN):
    """Create or import a CA, then name the broker."""

    VERSION = 1
    # 1.2: secrets live in the private secrets file, not in data/options (migration in
    # __init__.async_migrate_entry).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._ca_name = DEFAULT_CA_NAME
        self._store_dir = None
        self._entry_created = False
        self._reported_hosts: set[str] | None = None
        self._broker_warnings: list[str] = []  # warning steps still to show, in order

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> TasmotaTlsOptionsFlow:
        """Options: renewal, auto-enrol, validation mode and channel."""
        return TasmotaTlsOptionsFlow()

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Offer the integration when a Tasmota device announces itself."""
        if not discovery_info.payload:
            return self.async_abort(reason="invalid_discovery_info")
        if self._async_current_entries():
            return self.async_abort(reason="already_configured")
        # One offer at a time; the CA's fingerprint replaces this ID later.
        await self.async_set_unique_id(DOMAIN)
        # A device's will (discovery_offer.py says why) counts only if it is a Tasmota's.
        if not is_tasmota_config_topic(discovery_info.topic) and not (
            await async_will_of_a_tasmota(self.hass, discovery_info.topic)
        ):
            return self.async_abort(reason="not_tasmota")
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm setting up TLS for the discovered devices."""
        if user_input is not None:
            return await self.async_step_user()
        self._set_confirm_only()
        return self.async_show_form(step_id="discovery_confirm")

    async def async_step_broker(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The broker's name (MqttHost on every device, CN/SAN of its certificate) and port."""
        if user_input is None and (offer := await self._async_addon_offer()) is not None:
            return offer  # the Mosquitto add-on is installed (config_flow_addon.py)
        errors: dict[str, str] = {}
        if self._reported_hosts is None:
            self._reported_hosts = await async_probe_mqtt_hosts(self.hass)
        if user_input is not None and (broker := parse_broker(user_input, errors)):
            self._data[CONF_BROKER_HOST], self._data[CONF_BROKER_PORT] = broker
            self._broker_warnings = []
            if {h.lower() for h in self._reported_hosts} - {broker[0].lower()}:
                self._broker_warnings.append("broker_mismatch")
            check = await async_check_broker(self.hass, *broker)
            if not check.resolves:
                self._broker_warnings.append("broker_unresolved")
            elif not check.answers:
                self._broker_warnings.append("broker_unreachable")
            return await self._async_next_broker_warning()
        # Pre-filled with what the devices use today (the most common name first).
        default_host = min(self._reported_hosts) if self._reported_hosts else ""
        return self.async_show_form(
            step_id="broker",
            data_schema=self.add_suggested_values_to_schema(
                broker_schema(default_host, DEFAULT_TLS_PORT), user_input
            ),
            errors=errors,
        )

    async def _async_next_broker_warning(self) -> ConfigFlowResult:
        """Show the next broker warning; when none is left, create the entry."""
        if not self._broker_warnings:
            return await self._async_finish()
        step_id = self._broker_warnings[0]
        return self.async_show_form(
            step_id=step_id,
            description_placeholders={
                "broker_host": self._data[CONF_BROKER_HOST],
                "broker_port": str(self._data[CONF_BROKER_PORT]),
                "reported_hosts": ", ".join(sorted(self._reported_hosts or ())),
            },
        )

    async def _async_broker_warning(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        if user_input is not None and self._broker_warnings[:1] == [step_id]:
            self._broker_warnings.pop(0)  # the user read it and goes on
        return await self._async_next_broker_warning()

    async def async_step_broker_mismatch(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Warn that devices reach the broker under another name today."""
        return await self._async_broker_warning("broker_mismatch", user_input)

    async def async_step_broker_unresolved(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Warn that Home Assistant cannot resolve the broker name."""
        return await self._async_broker_warning("broker_unresolved", user_input)

    async def async_step_broker_unreachable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Warn that nothing answers on host:port yet (the bundle is not installed)."""
        return await self._async_broker_warning("broker_unreachable", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the broker host or TLS port."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None and (broker := parse_broker(user_input, errors)):
            return self.async_update_reload_and_abort(
                entry, data_updates={CONF_BROKER_HOST: broker[0], CONF_BROKER_PORT: broker[1]}
            )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                broker_schema(entry.data[CONF_BROKER_HOST], entry.data[CONF_BROKER_PORT]),
                user_input,
            ),
            errors=errors,
        )

    async def _async_finish(self) -> ConfigFlowResult:
        passphrase = self._data[CONF_PASSPHRASE]
        if self._data[CONF_CA_SOURCE] == CA_SOURCE_CREATE:
            identity = await self.hass.async_add_executor_job(
                create_ca,
                self._new_store_dir(),
                passphrase,
                self._ca_name,
                self._data.pop(CONF_CA_ALGORITHM),
            )
            await self.async_set_unique_id(identity.unique_id, raise_on_progress=False)
        data = dict(self._data)
        # Never in the config entry (written 0644): unattended, it goes to the 0600 file.
        del data[CONF_PASSPHRASE]
        if data[CONF_CUSTODY] == CUSTODY_UNATTENDED:
            path = secrets_path(self.hass, data[CONF_STORE_ID])
            await self.hass.async_add_executor_job(
                write_secrets, path, {CONF_PASSPHRASE: passphrase}
            )
        self._entry_created = True
        options = dict(DEFAULT_OPTIONS)
        if self._store_dir is not None and await self.hass.async_add_executor_job(
            broker_key_is_ec, self._store_dir
        ):
            # An imported EC broker key cannot be pinned: start in CA mode, which works.
            options[CONF_VALIDATION] = VALIDATION_CA
        return self.async_create_entry(title=self._ca_name, data=data, options=options)

    @callback
    def async_remove(self) -> None:
        """Drop a CA store this flow wrote but never attached to an entry."""
        if self._store_dir is not None and not self._entry_created:
            self.hass.async_add_executor_job(remove_store, self._store_dir)
