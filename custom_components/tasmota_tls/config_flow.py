"""Config flow for Tasmota TLS: one entry is one CA and one broker."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .broker_check import async_check_broker
from .ca import (
    create_ca,
    identify_certificate_pem,
    identify_easyrsa_ca,
    remove_store,
    store_directory,
)
from .config_flow_addon import AddonFlowMixin
from .const import (
    CA_SOURCE_CREATE,
    CA_SOURCE_EASYRSA,
    CA_SOURCE_PEM,
    CHANNEL_HTTP,
    CHANNEL_MQTT,
    CONF_ACL_DENY,
    CONF_AUTO_ENROL,
    CONF_AUTO_RENEW,
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CA_ALGORITHM,
    CONF_CA_NAME,
    CONF_CA_SOURCE,
    CONF_CERT_PEM,
    CONF_CHANNEL,
    CONF_CUSTODY,
    CONF_HTTP_PORT,
    CONF_KEY_PEM,
    CONF_MAX_PARALLEL_ENROLMENTS,
    CONF_PASSPHRASE,
    CONF_PKI_PATH,
    CONF_RENEW_DAYS,
    CONF_RENEW_OVER_TLS,
    CONF_ROLLBACK_MINUTES,
    CONF_STORE_ID,
    CONF_VALIDATION,
    CONF_WEB_PASSWORD,
    CUSTODY_ATTENDED,
    CUSTODY_UNATTENDED,
    DEFAULT_ACL_DENY,
    DEFAULT_AUTO_ENROL,
    DEFAULT_AUTO_RENEW,
    DEFAULT_CA_NAME,
    DEFAULT_CHANNEL,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_PARALLEL_ENROLMENTS,
    DEFAULT_RENEW_DAYS,
    DEFAULT_RENEW_OVER_TLS,
    DEFAULT_ROLLBACK_MINUTES,
    DEFAULT_TLS_PORT,
    DEFAULT_VALIDATION,
    DOMAIN,
    MAX_PARALLEL_ENROLMENTS_LIMIT,
    MIN_PASSPHRASE_LENGTH,
    VALIDATION_CA,
    VALIDATION_FINGERPRINT,
)
from .discovery_offer import async_will_of_a_tasmota, is_tasmota_config_topic
from .host_probe import async_probe_mqtt_hosts
from .pki import InvalidNameError, PkiError, PkiStore, WrongPassphraseError
from .pki.fingerprint import has_fingerprint
from .pki.limits import MAX_COMMON_NAME_CHARS as MAX_CA_NAME_CHARS
from .pki.names import parse_host
from .secret_store import secrets_path, write_secrets

_LOGGER = logging.getLogger(__name__)

CONF_PASSPHRASE_CONFIRM = "passphrase_confirm"  # noqa: S105 (a key name)

DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_RENEW_DAYS: DEFAULT_RENEW_DAYS,
    CONF_AUTO_RENEW: DEFAULT_AUTO_RENEW,
    CONF_AUTO_ENROL: DEFAULT_AUTO_ENROL,
    CONF_VALIDATION: DEFAULT_VALIDATION,
    CONF_CHANNEL: DEFAULT_CHANNEL,
    CONF_HTTP_PORT: DEFAULT_HTTP_PORT,
    CONF_ROLLBACK_MINUTES: DEFAULT_ROLLBACK_MINUTES,
    CONF_MAX_PARALLEL_ENROLMENTS: DEFAULT_MAX_PARALLEL_ENROLMENTS,
    CONF_RENEW_OVER_TLS: DEFAULT_RENEW_OVER_TLS,
    CONF_ACL_DENY: DEFAULT_ACL_DENY,
}

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_MULTILINE = TextSelector(TextSelectorConfig(multiline=True))
_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))


def _broker_key_is_ec(store_dir: Path) -> bool:
    """Fingerprint mode pins RSA broker keys only (the firmware has no EC fingerprint)."""
    try:
        cert = PkiStore(store_dir).current_broker_certificate()
    except PkiError:
        return False  # a store problem is reported where the store is used, not here
    return cert is not None and not has_fingerprint(cert)


def _identify_easyrsa(pki_dir: Path) -> Any:
    """The CA of the folder; NotADirectoryError when the folder itself is missing."""
    if not pki_dir.is_dir():
        # Said apart from "no readable ca.crt": a wrong path is the usual mistake.
        raise NotADirectoryError(str(pki_dir))
    return identify_easyrsa_ca(pki_dir)


def _select(key: str, options: list[str]) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.LIST)
    )


_CUSTODY = _select(CONF_CUSTODY, [CUSTODY_UNATTENDED, CUSTODY_ATTENDED])


def _broker_schema(host: str, port: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_BROKER_HOST, default=host): str,
            vol.Required(CONF_BROKER_PORT, default=port): _PORT,
        }
    )


def _parse_broker(user_input: dict[str, Any], errors: dict[str, str]) -> tuple[str, int] | None:
    try:
        _, host = parse_host(user_input[CONF_BROKER_HOST])
    except InvalidNameError:
        errors[CONF_BROKER_HOST] = "invalid_host"
        return None
    return host, int(user_input[CONF_BROKER_PORT])


class TasmotaTlsConfigFlow(AddonFlowMixin, ConfigFlow, domain=DOMAIN):
    """Create or import a CA, then name the broker."""

    VERSION = 1
    # 1.2: secrets live in the private secrets file, not in data/options (migration in
    # __init__.async_migrate_entry).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._ca_name = DEFAULT_CA_NAME
        self._store_dir: Path | None = None
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

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose between a new CA and an existing one."""
        return self.async_show_menu(
            step_id="user", menu_options=["create_ca", "import_easyrsa", "import_pem"]
        )

    async def async_step_create_ca(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new CA; its key is encrypted with the passphrase."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if not 0 < len(user_input[CONF_CA_NAME].strip()) <= MAX_CA_NAME_CHARS:
                errors[CONF_CA_NAME] = "invalid_ca_name"
            if len(user_input[CONF_PASSPHRASE]) < MIN_PASSPHRASE_LENGTH:
                errors[CONF_PASSPHRASE] = "passphrase_too_short"
            elif user_input[CONF_PASSPHRASE] != user_input.get(CONF_PASSPHRASE_CONFIRM):
                # A typo here would lock the new CA key away for good.
                errors[CONF_PASSPHRASE_CONFIRM] = "passphrase_mismatch"
            if not errors:
                self._ca_name = user_input[CONF_CA_NAME].strip()
                self._data[CONF_CA_ALGORITHM] = user_input[CONF_CA_ALGORITHM]
                self._remember_custody(CA_SOURCE_CREATE, user_input)
                return await self.async_step_broker()
        schema = vol.Schema(
            {
                vol.Required(CONF_CA_NAME, default=DEFAULT_CA_NAME): str,
                vol.Required(CONF_CA_ALGORITHM, default="rsa"): _select(
                    CONF_CA_ALGORITHM, ["rsa", "ec"]
                ),
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): _CUSTODY,
                vol.Required(CONF_PASSPHRASE): _PASSWORD,
                vol.Required(CONF_PASSPHRASE_CONFIRM): _PASSWORD,
            }
        )
        # Passphrases are never offered back: the user types both again.
        suggested = {
            k: v
            for k, v in (user_input or {}).items()
            if k not in (CONF_PASSPHRASE, CONF_PASSPHRASE_CONFIRM)
        }
        return self.async_show_form(
            step_id="create_ca",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"min_length": str(MIN_PASSPHRASE_LENGTH)},
        )

    async def async_step_import_easyrsa(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take over the CA of an Easy-RSA ``pki/`` directory."""
        errors: dict[str, str] = {}
        if user_input is not None:
            pki_dir = Path(user_input[CONF_PKI_PATH].strip())
            passphrase = user_input[CONF_PASSPHRASE]
            try:
                identity = await self.hass.async_add_executor_job(_identify_easyrsa, pki_dir)
            except NotADirectoryError:
                errors[CONF_PKI_PATH] = "pki_folder_missing"
            except (OSError, ValueError):
                errors[CONF_PKI_PATH] = "pki_not_found"
            else:
                await self.async_set_unique_id(identity.unique_id, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                self._ca_name = identity.name
                error = await self._async_import(
                    lambda store: store.import_easyrsa(pki_dir, passphrase)
                )
                if error is None:
                    self._remember_custody(CA_SOURCE_EASYRSA, user_input)
                    return await self.async_step_broker()
                errors["base"] = error
        schema = vol.Schema(
            {
                vol.Required(CONF_PKI_PATH): str,
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): _CUSTODY,
                vol.Required(CONF_PASSPHRASE): _PASSWORD,
            }
        )
        return self.async_show_form(
            step_id="import_easyrsa",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_import_pem(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take over a CA given as PEM certificate and encrypted PEM key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            cert_pem = user_input[CONF_CERT_PEM].strip().encode()
            key_pem = user_input[CONF_KEY_PEM].strip().encode()
            passphrase = user_input[CONF_PASSPHRASE]
            try:
                identity = await self.hass.async_add_executor_job(
                    identify_certificate_pem, cert_pem
                )
            except ValueError:
                errors[CONF_CERT_PEM] = "invalid_certificate"
            else:
                await self.async_set_unique_id(identity.unique_id, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                self._ca_name = identity.name
                error = await self._async_import(
                    lambda store: store.import_pem(cert_pem, key_pem, passphrase)
                )
                if error is None:
                    self._remember_custody(CA_SOURCE_PEM, user_input)
                    return await self.async_step_broker()
                errors["base"] = error
        # The key is never offered back as a suggested value.
        suggested = {k: v for k, v in (user_input or {}).items() if k == CONF_CERT_PEM}
        schema = vol.Schema(
            {
                vol.Required(CONF_CERT_PEM): _MULTILINE,
                vol.Required(CONF_KEY_PEM): _MULTILINE,
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): _CUSTODY,
                vol.Required(CONF_PASSPHRASE): _PASSWORD,
            }
        )
        return self.async_show_form(
            step_id="import_pem",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def async_step_broker(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The broker's name (MqttHost on every device, CN/SAN of its certificate) and port."""
        if user_input is None and (offer := await self._async_addon_offer()) is not None:
            return offer  # the Mosquitto add-on is installed (config_flow_addon.py)
        errors: dict[str, str] = {}
        if self._reported_hosts is None:
            self._reported_hosts = await async_probe_mqtt_hosts(self.hass)
        if user_input is not None and (broker := _parse_broker(user_input, errors)):
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
                _broker_schema(default_host, DEFAULT_TLS_PORT), user_input
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
        if user_input is not None and (broker := _parse_broker(user_input, errors)):
            return self.async_update_reload_and_abort(
                entry, data_updates={CONF_BROKER_HOST: broker[0], CONF_BROKER_PORT: broker[1]}
            )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _broker_schema(entry.data[CONF_BROKER_HOST], entry.data[CONF_BROKER_PORT]),
                user_input,
            ),
            errors=errors,
        )

    def _remember_custody(self, source: str, user_input: dict[str, Any]) -> None:
        self._data[CONF_CA_SOURCE] = source
        self._data[CONF_CUSTODY] = user_input[CONF_CUSTODY]
        # Kept only in memory until the entry is created; stored only when unattended.
        self._data[CONF_PASSPHRASE] = user_input[CONF_PASSPHRASE]

    def _new_store_dir(self) -> Path:
        store_id = uuid.uuid4().hex
        self._data[CONF_STORE_ID] = store_id
        self._store_dir = store_directory(self.hass, store_id)
        return self._store_dir

    async def _async_import(self, do_import: Callable[[PkiStore], object]) -> str | None:
        """Import into a fresh store; return an error key, or None on success."""
        if self._store_dir is not None:
            await self.hass.async_add_executor_job(remove_store, self._store_dir)
        store = PkiStore(self._new_store_dir())
        try:
            await self.hass.async_add_executor_job(do_import, store)
        except WrongPassphraseError:
            error = "wrong_passphrase"
        except PkiError as err:
            _LOGGER.warning("Importing the CA failed: %s", err)
            error = "index_not_utf8" if err.code == "index_not_utf8" else "import_failed"
        else:
            return None
        await self.hass.async_add_executor_job(remove_store, store.directory)
        return error

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
            _broker_key_is_ec, self._store_dir
        ):
            # An imported EC broker key cannot be pinned: start in CA mode, which works.
            options[CONF_VALIDATION] = VALIDATION_CA
        return self.async_create_entry(title=self._ca_name, data=data, options=options)

    @callback
    def async_remove(self) -> None:
        """Drop a CA store this flow wrote but never attached to an entry."""
        if self._store_dir is not None and not self._entry_created:
            self.hass.async_add_executor_job(remove_store, self._store_dir)


class TasmotaTlsOptionsFlow(OptionsFlow):
    """Renewal window, automation switches, validation mode and channel."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option."""
        errors: dict[str, str] = {}
        if user_input is not None and user_input[CONF_VALIDATION] == VALIDATION_FINGERPRINT:
            store_dir = store_directory(self.hass, self.config_entry.data[CONF_STORE_ID])
            if await self.hass.async_add_executor_job(_broker_key_is_ec, store_dir):
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
        schema = vol.Schema(
            {
                vol.Required(CONF_RENEW_DAYS): NumberSelector(
                    NumberSelectorConfig(min=1, max=180, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(CONF_AUTO_RENEW): BooleanSelector(),
                vol.Required(CONF_AUTO_ENROL): BooleanSelector(),
                vol.Required(CONF_VALIDATION): _select(
                    CONF_VALIDATION, [VALIDATION_FINGERPRINT, VALIDATION_CA]
                ),
                vol.Required(CONF_CHANNEL): _select(CONF_CHANNEL, [CHANNEL_HTTP, CHANNEL_MQTT]),
                vol.Required(CONF_HTTP_PORT): _PORT,
                vol.Optional(CONF_WEB_PASSWORD): _PASSWORD,
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
                vol.Required(
                    CONF_RENEW_OVER_TLS, default=DEFAULT_RENEW_OVER_TLS
                ): BooleanSelector(),
                vol.Required(CONF_ACL_DENY, default=DEFAULT_ACL_DENY): _MULTILINE,
            }
        )
        current = {**DEFAULT_OPTIONS, **self.config_entry.options}
        current.pop(CONF_WEB_PASSWORD, None)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
        )
