"""The broker certificate's upkeep: a repair well before it expires, a renewal that keeps the key.

Devices in fingerprint mode pin the broker's public key, not its certificate. So the
automatic renewal signs a new certificate for the SAME key and names: every pinned
device keeps connecting once the broker serves it. The exported bundle is rewritten
(broker_bundle.BrokerBundle.async_refresh) so installing it and reloading the broker
is all that is left; a new key is only ever made by an explicit rotation
(export_broker_bundle with rotate_key).
"""

from __future__ import annotations

import datetime as dt
import logging

from homeassistant.core import HomeAssistant

from .addon.service import AddonSetupError, async_applied_broker
from .broker_bundle import BrokerBundle, exported_layouts
from .ca import CaSnapshot, CertificateAuthority
from .const import EVENT_TASMOTA_TLS
from .issues import ISSUE_BROKER_EXPIRING, ISSUE_BROKER_EXPIRING_MANUAL, async_set_issue
from .pki import PkiError
from .settings import EntrySettings

_LOGGER = logging.getLogger(__name__)

# Two months' notice: time to install a renewed bundle, or to renew an imported
# (Easy-RSA) certificate by hand, long before devices would see it expire.
REPAIR_DAYS = 60
# Renewed with a month left: the broker has a month to be reloaded with it.
AUTO_RENEW_DAYS = 30
EVENT_BROKER_RENEWED = "broker_renewed"


async def async_check_broker_expiry(
    hass: HomeAssistant,
    settings: EntrySettings,
    ca: CertificateAuthority,
    bundle: BrokerBundle,
    snapshot: CaSnapshot,
    now: dt.datetime,
    passphrase: str | None,
) -> CaSnapshot:
    """Renew the broker certificate when due (same key); raise or clear its repair.

    Automatic only when the store holds the broker key (it issued the certificate),
    automatic renewal is on and the passphrase is kept (unattended custody).
    """
    entry_id = settings.entry_id
    not_after = snapshot.broker_not_after
    automatic = bool(passphrase and snapshot.broker_key_in_store and settings.auto_renew)
    if automatic and passphrase and not_after and not_after - now < _days(AUTO_RENEW_DAYS):
        renewed = await _async_renew(hass, settings, ca, bundle, passphrase, not_after)
        if renewed is None:
            automatic = False  # the log says why; the user is asked to act
        else:
            snapshot, not_after = renewed, renewed.broker_not_after
    due = not_after is not None and not_after - now < _days(REPAIR_DAYS)
    placeholders = {
        "expires": _date(not_after),
        "renew_on": _date(not_after - _days(AUTO_RENEW_DAYS) if not_after else None),
        "names": ", ".join(snapshot.broker_names) or "-",
    }
    async_set_issue(hass, ISSUE_BROKER_EXPIRING, entry_id, due and automatic, placeholders)
    async_set_issue(
        hass, ISSUE_BROKER_EXPIRING_MANUAL, entry_id, due and not automatic, placeholders
    )
    return snapshot


async def _async_renew(
    hass: HomeAssistant,
    settings: EntrySettings,
    ca: CertificateAuthority,
    bundle: BrokerBundle,
    passphrase: str,
    old_not_after: dt.datetime,
) -> CaSnapshot | None:
    before = ca.snapshot
    try:
        certificate = await ca.async_renew_broker(passphrase)
    except (PkiError, OSError) as err:
        _LOGGER.warning("Could not renew the broker certificate: %s", err)
        return None
    await bundle.async_refresh(passphrase)
    addon_serves_it = await _async_install_on_addon(hass, settings, ca, passphrase)
    snapshot = ca.snapshot
    assert snapshot is not None  # async_renew_broker refreshed it
    directory = bundle.directory
    layouts = await hass.async_add_executor_job(exported_layouts, directory)
    _LOGGER.info(
        "Renewed the broker certificate with the same key (it expired on %s, now on %s); %s",
        _date(old_not_after),
        _date(snapshot.broker_not_after),
        f"the exported bundle in {directory} ({', '.join(layouts)}) is updated: install it "
        "and reload the broker"
        if layouts
        else "no bundle was exported yet: run Export broker bundle and install it",
    )
    hass.bus.async_fire(
        EVENT_TASMOTA_TLS,
        {
            "type": EVENT_BROKER_RENEWED,
            "entry_id": settings.entry_id,
            "serial": f"{certificate.serial_number:x}",  # as the index records it
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "previous_not_after": old_not_after.isoformat(),
            "fingerprint": snapshot.broker_fingerprint,
            # Always False here: the renewal keeps the key (a test holds it to that).
            "fingerprint_changed": before is not None
            and before.broker_fingerprint != snapshot.broker_fingerprint,
            "bundle_directory": str(directory),
            "bundle_layouts": list(layouts),
            # None: the add-on is not our broker; True: it restarted and serves it.
            "addon_serves_it": addon_serves_it,
        },
    )
    return snapshot


async def _async_install_on_addon(
    hass: HomeAssistant, settings: EntrySettings, ca: CertificateAuthority, passphrase: str
) -> bool | None:
    """When this entry configured the Mosquitto add-on, make it serve the renewed certificate."""
    addon = await async_applied_broker(hass, settings.store_id)
    if addon is None:
        return None
    try:
        await addon.async_install_renewed(ca.directory, passphrase, settings.broker_host)
    except AddonSetupError as err:
        _LOGGER.warning(
            "The Mosquitto add-on does not serve the renewed broker certificate yet (%s: %s); "
            "restart the add-on",
            err.reason,
            err.detail,
        )
        return False
    return True


def _days(days: int) -> dt.timedelta:
    return dt.timedelta(days=days)


def _date(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else "-"
