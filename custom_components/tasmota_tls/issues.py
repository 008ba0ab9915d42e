"""Repair issues for problems the user can fix."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, FIRMWARE_DOCS_URL

ISSUE_CA_EXPIRING = "ca_expiring"
ISSUE_BROKER_NAME_MISMATCH = "broker_name_mismatch"
ISSUE_CRL_STALE = "crl_stale"
ISSUE_DEVICES_EXPIRING = "devices_expiring"
ISSUE_NO_TLSKEY_SUPPORT = "no_tlskey_support"
ISSUE_BROKER_CERTIFICATE_MISSING = "broker_certificate_missing"
ISSUE_ADDRESS_CHANGED = "address_changed"
ISSUE_IDENTITY_CONFLICT = "identity_conflict"
ISSUE_TOPICS_REFUSED = "topics_refused"
ISSUE_ACL_LEFT_OUT = "acl_left_out"
# Failures a user can act on, and a revoked device the broker still serves (failures.py).
ISSUE_ROLLED_BACK = "rolled_back"
ISSUE_DEVICE_UNREACHABLE = "device_unreachable"
ISSUE_REVOKED_STILL_CONNECTED = "revoked_still_connected"
ISSUE_BROKER_EXPIRING = "broker_expiring"  # renewed automatically (same key) before expiry
ISSUE_BROKER_EXPIRING_MANUAL = "broker_expiring_manual"  # the user renews it
ISSUE_FINGERPRINT_NEEDS_RSA = "fingerprint_needs_rsa"  # fingerprint mode, EC broker key
# The Mosquitto add-on still accepts a revoked device until its login is gone (addon/).
ISSUE_ADDON_REVOCATION_PENDING = "addon_revocation_pending"
# hassfest forbids an issue text with both a description and a fix flow. These issues
# are fixable only in attended custody (the flow asks for the passphrase), so each has a
# second text, with the fix flow, for that case.
ISSUE_CRL_STALE_FIXABLE = "crl_stale_fixable"
ISSUE_DEVICES_EXPIRING_FIXABLE = "devices_expiring_fixable"
_FIXABLE_TEXTS = {
    ISSUE_CRL_STALE: ISSUE_CRL_STALE_FIXABLE,
    ISSUE_DEVICES_EXPIRING: ISSUE_DEVICES_EXPIRING_FIXABLE,
}


def issue_id(kind: str, entry_id: str, mac: str | None = None) -> str:
    """One issue per kind and entry (and device, where it concerns one)."""
    return f"{kind}_{entry_id}" + (f"_{mac}" if mac else "")


@callback
def async_set_issue(
    hass: HomeAssistant,
    kind: str,
    entry_id: str,
    active: bool,
    placeholders: dict[str, str] | None = None,
    *,
    mac: str | None = None,
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
    fixable: bool = False,
) -> None:
    """Create the issue when ``active``, delete it otherwise.

    A fixable issue opens a repair flow (repairs.py) that asks for the CA passphrase.
    """
    identifier = issue_id(kind, entry_id, mac)
    data: dict[str, str | int | float | None] = {"entry_id": entry_id, "kind": kind}
    if mac:
        data["mac"] = mac
    if not active:
        ir.async_delete_issue(hass, DOMAIN, identifier)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        identifier,
        is_fixable=fixable,
        is_persistent=False,
        data=data if fixable else None,
        severity=severity,
        translation_key=_FIXABLE_TEXTS.get(kind, kind) if fixable else kind,
        translation_placeholders=placeholders,
        learn_more_url=FIRMWARE_DOCS_URL if kind == ISSUE_NO_TLSKEY_SUPPORT else None,
    )


@callback
def async_clear_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Remove every issue of an entry that is being removed."""
    registry = ir.async_get(hass)
    for domain, identifier in list(registry.issues):
        if domain == DOMAIN and entry_id in identifier:
            ir.async_delete_issue(hass, DOMAIN, identifier)
