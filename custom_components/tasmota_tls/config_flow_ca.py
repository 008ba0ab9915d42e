"""The config flow's CA steps (mixed into the flow): create a CA, or import one.

A new CA is only chosen here (name, algorithm, passphrase); it is created when the
entry is, after the broker step. An imported CA goes into a fresh store at once, so
that a wrong passphrase or a mismatched key is reported on the form that caused it;
the flow removes that store if it is left (config_flow.py, async_remove).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult

from .ca import (
    CaIdentity,
    identify_certificate_pem,
    identify_easyrsa_ca,
    remove_store,
    store_directory,
)
from .config_flow_schema import CONF_PASSPHRASE_CONFIRM, CUSTODY, MULTILINE, PASSWORD, select
from .const import (
    CA_SOURCE_CREATE,
    CA_SOURCE_EASYRSA,
    CA_SOURCE_PEM,
    CONF_CA_ALGORITHM,
    CONF_CA_NAME,
    CONF_CA_SOURCE,
    CONF_CERT_PEM,
    CONF_CUSTODY,
    CONF_KEY_PEM,
    CONF_PASSPHRASE,
    CONF_PKI_PATH,
    CONF_STORE_ID,
    CUSTODY_UNATTENDED,
    DEFAULT_CA_NAME,
    MIN_PASSPHRASE_LENGTH,
)
from .pki import PkiError, PkiStore, WrongPassphraseError
from .pki.limits import MAX_COMMON_NAME_CHARS as MAX_CA_NAME_CHARS

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlow

    _Base = ConfigFlow
else:
    _Base = object

_LOGGER = logging.getLogger(__name__)


def _identify_easyrsa(pki_dir: Path) -> CaIdentity:
    """The CA of the folder; NotADirectoryError when the folder itself is missing."""
    if not pki_dir.is_dir():
        # Said apart from "no readable ca.crt": a wrong path is the usual mistake.
        raise NotADirectoryError(str(pki_dir))
    return identify_easyrsa_ca(pki_dir)


class CaFlowMixin(_Base):
    """Steps user, create_ca, import_easyrsa and import_pem; each ends at the broker step."""

    _data: dict[str, Any]
    _ca_name: str
    _store_dir: Path | None

    if TYPE_CHECKING:

        async def async_step_broker(
            self, user_input: dict[str, Any] | None = None
        ) -> ConfigFlowResult: ...

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
                vol.Required(CONF_CA_ALGORITHM, default="rsa"): select(
                    CONF_CA_ALGORITHM, ["rsa", "ec"]
                ),
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): CUSTODY,
                vol.Required(CONF_PASSPHRASE): PASSWORD,
                vol.Required(CONF_PASSPHRASE_CONFIRM): PASSWORD,
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
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): CUSTODY,
                vol.Required(CONF_PASSPHRASE): PASSWORD,
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
                vol.Required(CONF_CERT_PEM): MULTILINE,
                vol.Required(CONF_KEY_PEM): MULTILINE,
                vol.Required(CONF_CUSTODY, default=CUSTODY_UNATTENDED): CUSTODY,
                vol.Required(CONF_PASSPHRASE): PASSWORD,
            }
        )
        return self.async_show_form(
            step_id="import_pem",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
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
