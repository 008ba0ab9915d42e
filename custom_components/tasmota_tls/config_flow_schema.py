"""What the config flow's forms share: selectors, the broker form, defaults, checks.

Used by the CA steps (config_flow_ca.py), the broker steps (config_flow.py) and the
options flow (config_flow_options.py); it holds no step itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.helpers.selector import (
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

from .const import (
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CUSTODY,
    CUSTODY_ATTENDED,
    CUSTODY_UNATTENDED,
)
from .pki import InvalidNameError, PkiError, PkiStore
from .pki.fingerprint import has_fingerprint
from .pki.names import parse_host
from .settings import OPTION_DEFAULTS

CONF_PASSPHRASE_CONFIRM = "passphrase_confirm"  # noqa: S105 (a key name)

DEFAULT_OPTIONS: dict[str, Any] = dict(OPTION_DEFAULTS)  # a new entry's options

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
MULTILINE = TextSelector(TextSelectorConfig(multiline=True))
PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))


def select(key: str, options: list[str]) -> SelectSelector:
    """A list of choices whose labels come from the translations under ``key``."""
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.LIST)
    )


CUSTODY = select(CONF_CUSTODY, [CUSTODY_UNATTENDED, CUSTODY_ATTENDED])


def broker_schema(host: str, port: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_BROKER_HOST, default=host): str,
            vol.Required(CONF_BROKER_PORT, default=port): PORT,
        }
    )


def parse_broker(user_input: dict[str, Any], errors: dict[str, str]) -> tuple[str, int] | None:
    """The broker's host (normalised) and port; None with the error set when invalid."""
    try:
        _, host = parse_host(user_input[CONF_BROKER_HOST])
    except InvalidNameError:
        errors[CONF_BROKER_HOST] = "invalid_host"
        return None
    return host, int(user_input[CONF_BROKER_PORT])


def broker_key_is_ec(store_dir: Path) -> bool:
    """Fingerprint mode pins RSA broker keys only (the firmware has no EC fingerprint)."""
    try:
        cert = PkiStore(store_dir).current_broker_certificate()
    except PkiError:
        return False  # a store problem is reported where the store is used, not here
    return cert is not None and not has_fingerprint(cert)
