"""Who may receive a key: the pinned address, and no claim on another device's identity.

Three checks stand between a discovery config (which anyone on the broker can publish)
and a private key:

- an enrolled MAC announcing another IP, FullTopic, prefixes or topics is *moved*: no
  key goes anywhere until the user confirms the new address (address_changed repair);
- a MAC whose certificate name, topic, LWT topic or any command/stat/tele root is
  already another enrolled MAC's is in *conflict*: it never gets a key, and a repair
  names both MACs and both addresses;
- a MAC whose topics reach into other applications' topics (the deny-list: ``$`` topics,
  the discovery prefix, ``homeassistant/`` by default...) or do not name the device
  is *refused*: its ACL would give it rights there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback

from .address_pins import is_legacy, pinned_topics
from .broker.acl import DeviceTopics
from .const import CONF_ACL_DENY, DEFAULT_ACL_DENY, FIXED_ACL_DENY
from .issues import (
    ISSUE_ADDRESS_CHANGED,
    ISSUE_IDENTITY_CONFLICT,
    ISSUE_TOPICS_REFUSED,
    async_set_issue,
)
from .naming import certificate_name
from .pki import PkiError
from .pki.topics import TopicModel, denied_root

if TYPE_CHECKING:
    from .discovery import TasmotaDevice
    from .manager import TlsManager
    from .models import DeviceState

_LOGGER = logging.getLogger(__name__)


def deny_list(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The configured deny-list (one prefix per line or comma), plus the fixed entries."""
    text = str(options.get(CONF_ACL_DENY, DEFAULT_ACL_DENY))
    entries = [part.strip() for line in text.splitlines() for part in line.split(",")]
    return (*FIXED_ACL_DENY, *(entry for entry in entries if entry))


@dataclass(frozen=True)
class Refusal:
    """Why a MAC gets no key: an issue kind, the error's key and what to show."""

    kind: str
    placeholders: dict[str, str]


@dataclass(frozen=True)
class _Claim:
    mac: str
    name: str | None
    ip: str
    topic: str | None
    lwt_topic: str | None
    roots: tuple[str, ...]


def _roots_overlap(roots: tuple[str, ...], others: tuple[str, ...]) -> str | None:
    for root in roots:
        for other in others:
            if root.startswith(other) or other.startswith(root):
                return other
    return None


class AddressGuard:
    """The three checks, their repairs, and the pins they rely on."""

    def __init__(self, manager: TlsManager) -> None:
        """Checks on ``manager``'s pins, journal, tracker and CA snapshot."""
        self._manager = manager
        self._claims: tuple[object, list[_Claim]] | None = None
        self._reported: dict[str, str] = {}  # MAC -> the refusal last logged

    # ---- moved ---------------------------------------------------------------------

    def address_changed(self, mac: str) -> bool:
        """True while the device announces an address other than the one it was enrolled at."""
        state = self._manager.tracker.devices.get(mac)
        return state is not None and state.present and self._manager.pins.moved(state.device)

    def address_placeholders(self, mac: str) -> dict[str, str]:
        """Both addresses, for the repair and the refusal."""
        manager = self._manager
        device, pinned = manager.tracker.devices[mac].device, manager.pins.pins[mac]
        old = " ".join(pinned.get(k, "") for k in ("command_topic", "stat_topic", "tele_topic"))  # type: ignore[misc]
        return {
            "name": device.name or mac,
            "mac": mac,
            "old_ip": pinned["ip"],
            "old_topic": pinned["command_topic"],
            "old_topics": old.strip(),
            "new_ip": device.ip,
            "new_topic": device.command_topic(""),
            "new_topics": " ".join(device.topics.bases()),
        }

    # ---- conflict and deny-list ------------------------------------------------------

    def refusal(self, device: TasmotaDevice) -> Refusal | None:
        """Why ``device`` may not get a key or ACL rights now; None when it may."""
        return self._refused_topics(device) or self._conflict(device)

    def _refused_topics(self, device: TasmotaDevice) -> Refusal | None:
        model = device.topics
        placeholders = {"mac": device.mac, "ip": device.ip, "topic": model.command_topic()}
        if not model.device_specific:
            rule = "%topic%, %hostname% or %id%"
            return Refusal(
                ISSUE_TOPICS_REFUSED, {**placeholders, "root": model.full_topic, "rule": rule}
            )
        denied = denied_root(model.bases(), deny_list(self._manager.entry.options))
        if denied is not None:
            root, rule = denied
            return Refusal(ISSUE_TOPICS_REFUSED, {**placeholders, "root": root, "rule": rule})
        try:
            self.acl_topics(device.mac, device, model)
        except PkiError as err:
            return Refusal(ISSUE_TOPICS_REFUSED, {**placeholders, "root": str(err), "rule": "-"})
        return None

    def acl_topics(self, mac: str, device: TasmotaDevice | None, model: TopicModel) -> DeviceTopics:
        """The device's ACL entry from ``model`` (raises PkiError when it cannot be one)."""
        journal = self._manager.journal
        name = journal.names.get(mac) or (certificate_name(device) if device else model.topic)
        return DeviceTopics(
            name=name,
            topic=model.topic,
            full_topic=model.full_topic,
            prefixes=model.prefixes,
            mac=mac,
            hostname=model.hostname or "",
        )

    def _conflict(self, device: TasmotaDevice) -> Refusal | None:
        model = device.topics
        name, roots = certificate_name(device), model.bases()
        for claim in self._owner_claims():
            if claim.mac == device.mac:
                continue
            if claim.name == name:
                what = f"certificate name {name}"
            elif claim.topic == device.topic:
                what = f"topic {device.topic}"
            elif claim.lwt_topic == model.lwt_topic:
                what = f"LWT topic {model.lwt_topic}"
            elif (root := _roots_overlap(roots, claim.roots)) is not None:
                what = f"topics under {root}"
            else:
                continue
            return Refusal(
                ISSUE_IDENTITY_CONFLICT,
                {
                    "mac": device.mac,
                    "ip": device.ip,
                    "topic": model.command_topic(),
                    "owner_mac": claim.mac,
                    "owner_ip": claim.ip,
                    "owner_topic": claim.roots[0] if claim.roots else "",
                    "claim": what,
                },
            )
        return None

    def _owner_claims(self) -> list[_Claim]:
        """What every MAC that owns a certificate has claimed (cached per state change)."""
        manager = self._manager
        key = (id(manager.ca.snapshot), manager.pins.version, manager.journal.version)
        if self._claims is not None and self._claims[0] == key:
            return self._claims[1]
        claims = []
        for mac in {*manager.pins.pins, *manager.journal.certificates}:
            certificate = manager.certificate(mac)
            if certificate is None or certificate.status == "revoked":
                continue
            claims.append(self._claim_of(mac, certificate.cn))
        self._claims = (key, claims)
        return claims

    def _claim_of(self, mac: str, cn: str) -> _Claim:
        manager = self._manager
        pin = manager.pins.pins.get(mac)
        state = manager.tracker.devices.get(mac)
        model = pinned_topics(pin, mac) if pin is not None else None
        if model is None and state is not None and not manager.pins.moved(state.device):
            model = state.device.topics
        name = manager.journal.names.get(mac) or cn
        ip = pin["ip"] if pin is not None else (state.device.ip if state else "")
        if model is None:  # a legacy pin of a device not seen yet: its command topic only
            roots = (pin["command_topic"],) if pin is not None else ()
            return _Claim(mac, name, ip, None, None, roots)
        return _Claim(mac, name, ip, model.topic, model.lwt_topic, model.bases())

    # ---- repairs -----------------------------------------------------------------------

    @callback
    def check(self, state: DeviceState) -> None:
        """Raise or clear the device's repairs; pin an enrolled device seen the first time."""
        manager, device = self._manager, state.device
        if not state.present:
            return
        pin = manager.pins.pins.get(device.mac)
        owns = manager.certificate(device.mac) is not None
        if owns and (pin is None or (is_legacy(pin) and not manager.pins.moved(device))):
            # Enrolled before addresses (or their topics) were pinned: trusted on first sight.
            manager.hass.async_create_task(manager.pins.async_pin(device), eager_start=True)
            return
        moved = manager.pins.moved(device)
        if moved:
            _LOGGER.warning(
                "Tasmota %s announces a new address (%s, %s); no key is sent there until "
                "the change is confirmed in Repairs",
                device.mac,
                device.ip,
                " ".join(device.topics.bases()),
            )
        entry_id = manager.entry.entry_id
        placeholders = self.address_placeholders(device.mac) if moved else None
        async_set_issue(manager.hass, ISSUE_ADDRESS_CHANGED, entry_id, moved, placeholders,
                        mac=device.mac, fixable=True)  # fmt: skip
        refusal = None if moved else self.refusal(device)
        text = repr(refusal)
        if refusal is not None and self._reported.get(device.mac) != text:
            _LOGGER.warning("Tasmota %s gets no key: %s", device.mac, refusal.placeholders)
        self._reported[device.mac] = text
        for kind in (ISSUE_IDENTITY_CONFLICT, ISSUE_TOPICS_REFUSED):
            shown = refusal.placeholders if refusal is not None and refusal.kind == kind else None
            async_set_issue(manager.hass, kind, entry_id, shown is not None, shown, mac=device.mac)

    @callback
    def forget(self, mac: str) -> None:
        """Clear a removed device's repairs."""
        manager = self._manager
        self._reported.pop(mac, None)
        for kind in (ISSUE_ADDRESS_CHANGED, ISSUE_IDENTITY_CONFLICT, ISSUE_TOPICS_REFUSED):
            async_set_issue(manager.hass, kind, manager.entry.entry_id, False, mac=mac)
