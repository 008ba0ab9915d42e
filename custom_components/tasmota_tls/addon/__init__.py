"""Home Assistant's Mosquitto add-on as the broker, configured through the Supervisor.

The add-on (slug ``core_mosquitto``) cannot run the bundle's listener: its ports are
fixed, it has no ``crlfile`` and no ``use_identity_as_username``, and every client must
log in with a username and password. So on a Supervisor install the integration instead:

- writes the broker certificate (with the CA as its chain), its key and the CA into
  ``/ssl`` under names of its own, and sets the add-on's ``certfile``/``keyfile``/
  ``cafile``/``require_certificate`` options, keeping every other option;
- gives each enrolled device its own add-on login (username = certificate CN, a random
  password kept in the entry's private secrets folder);
- writes an ``acl_file`` into the add-on's customize folder (``/share/<folder>``);
- on revocation removes the device's login and ACL block and restarts the add-on.

Every change goes through Home Assistant's AddonManager (the hassio integration), the way
Z-Wave JS and Matter manage their add-ons. README, "Home Assistant OS with the Mosquitto
add-on", says what this does and does not protect.
"""

from __future__ import annotations

import logging

from homeassistant.components.hassio import AddonError, AddonInfo, AddonManager, AddonState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.hassio import is_hassio
from homeassistant.helpers.singleton import singleton

from ..const import DOMAIN

_LOGGER = logging.getLogger(__name__)

ADDON_SLUG = "core_mosquitto"
ADDON_NAME = "Mosquitto broker"
DATA_ADDON_MANAGER = f"{DOMAIN}_addon_manager"

__all__ = ["ADDON_SLUG", "AddonError", "AddonInfo", "async_detect", "get_addon_manager"]


@singleton(DATA_ADDON_MANAGER)
@callback
def get_addon_manager(hass: HomeAssistant) -> AddonManager:
    """One AddonManager for the add-on (it tracks its own running tasks)."""
    return AddonManager(hass, _LOGGER, ADDON_NAME, ADDON_SLUG)


async def async_detect(hass: HomeAssistant) -> AddonInfo | None:
    """The add-on's info when Home Assistant runs under the Supervisor and it is installed.

    Any Supervisor error counts as "not detected": the bundle path stays available.
    """
    if not is_hassio(hass):
        return None
    try:
        info = await get_addon_manager(hass).async_get_addon_info()
    except AddonError as err:
        _LOGGER.debug("Mosquitto add-on not detected: %s", err)
        return None
    return None if info.state is AddonState.NOT_INSTALLED else info
