"""Who may receive a key: the pinned address, certificates bound to MACs, no stolen identity.

Three checks stand between a discovery config (which anyone on the broker can publish)
and a private key:

- an enrolled MAC announcing another IP, FullTopic, prefixes or topics is *moved*: no
  key goes anywhere until the user confirms the new address (address_changed repair);
- a MAC whose certificate name, topic, LWT topic or any command/stat/tele root is
  already another enrolled MAC's is in *conflict*: it never gets a key, and a repair
  names both MACs and both addresses;
- a MAC whose topics reach into other applications' topics or do not name the device
  is *refused*: its ACL would give it rights there (claims.py).

Which certificate is a device's is decided here too, by the MAC it was issued for and
never by name (ownership.py), and so are the topics each device's ACL entry holds: the
pinned ones, never what a later discovery config says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from homeassistant.core import HomeAssistant, callback

from ..broker.acl import DeviceTopics, LeftOut
from ..ca import CertificateAuthority
from ..device_state import DeviceState
from ..discovery import TasmotaDevice
from ..issues import (
    ISSUE_ADDRESS_CHANGED,
    ISSUE_IDENTITY_CONFLICT,
    ISSUE_TOPICS_REFUSED,
    async_set_issue,
)
from ..journal import EnrolmentJournal
from ..naming import certificate_name
from ..pki import IndexEntry, PkiError
from ..pki.topics import TopicModel
from ..settings import EntrySettings
from .claims import Claim, ClaimIndex, Refusal, refused_topics
from .ownership import certificate_of, owned_entry
from .pins import Address, AddressPins, is_legacy, pinned_topics

__all__ = ["AddressGuard", "Refusal"]

_LOGGER = logging.getLogger(__name__)


class AddressGuard:
    """The checks, their repairs, the pins and the certificate of each MAC."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: EntrySettings,
        ca: CertificateAuthority,
        journal: EnrolmentJournal,
        devices: Mapping[str, DeviceState],
    ) -> None:
        """``devices`` is the tracker's live device list."""
        self._hass = hass
        self._settings = settings
        self._ca = ca
        self._journal = journal
        self._devices = devices
        self.pins = AddressPins(hass, settings.entry_id)
        self._claims: tuple[object, ClaimIndex] | None = None
        # MAC -> (its pin, the topics read from it): pins are replaced, never changed.
        self._pin_topics: dict[str, tuple[Address, TopicModel | None]] = {}
        self._reported: dict[str, str] = {}  # MAC -> the refusal last logged

    async def async_load(self) -> None:
        """Read the pins saved before the last shutdown."""
        await self.pins.async_load()

    # ---- ownership -------------------------------------------------------------------

    def certificate(self, mac: str) -> IndexEntry | None:
        """The certificate issued for this MAC that the device uses (never one found by name)."""
        return certificate_of(self._ca.snapshot, self._journal, mac)

    def owned_certificate(self, mac: str, serial: str) -> IndexEntry | None:
        """A certificate issued for this MAC, by serial; None when it is another's."""
        return owned_entry(self._ca.snapshot, self._journal, mac, serial)

    async def async_bind(self, serial: str, mac: str) -> None:
        """Bind a new certificate to the MAC it was issued for, before its key leaves."""
        await self._journal.async_bind(serial, mac)

    # ---- moved -----------------------------------------------------------------------

    def moved(self, device: TasmotaDevice) -> bool:
        """True when the device is pinned and now announces another address or topics."""
        return self.pins.moved(device)

    def address_changed(self, mac: str) -> bool:
        """True while the device announces an address other than the one it was enrolled at."""
        state = self._devices.get(mac)
        return state is not None and state.present and self.pins.moved(state.device)

    def address_placeholders(self, mac: str) -> dict[str, str]:
        """Both addresses, for the repair and the refusal."""
        device, pinned = self._devices[mac].device, self.pins.pins[mac]
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

    async def async_pin(self, device: TasmotaDevice) -> None:
        """Pin the address the device announces now (the address its key went to)."""
        await self.pins.async_pin(device)

    async def async_confirm(self, mac: str) -> bool:
        """The user says the device really moved: pin what it announces now."""
        state = self._devices.get(mac)
        if state is None:
            return False
        _LOGGER.info("Tasmota %s: new address %s confirmed", mac, state.device.ip)
        await self.pins.async_pin(state.device)
        self.check(state)
        return True

    # ---- conflict and deny-list --------------------------------------------------------

    def refusal(self, device: TasmotaDevice) -> Refusal | None:
        """Why ``device`` may not get a key or ACL rights now; None when it may."""
        return refused_topics(
            device,
            self._settings.deny,
            lambda dev, model: self.acl_topics(dev.mac, dev, model),
        ) or self._owner_claims().conflict(device)

    def acl_topics(self, mac: str, device: TasmotaDevice | None, model: TopicModel) -> DeviceTopics:
        """The device's ACL entry from ``model`` (raises PkiError when it cannot be one)."""
        name = self._journal.names.get(mac) or (certificate_name(device) if device else model.topic)
        return DeviceTopics(
            name=name,
            topic=model.topic,
            full_topic=model.full_topic,
            prefixes=model.prefixes,
            mac=mac,
            hostname=model.hostname or "",
        )

    def acl_entries(self) -> tuple[list[DeviceTopics], list[LeftOut]]:
        """ACL entries for every device that owns a certificate, oldest certificate first.

        The topics are the pinned ones, those the device was enrolled with: a change there
        is a repair, not wider rights. The oldest certificate comes first so that, on a
        conflict, the incumbent keeps its rights. A device whose topics cannot go into an
        ACL is left out and reported.
        """
        owned = []
        for mac in {*self.pins.pins, *self._journal.certificates, *self._devices}:
            if (certificate := self.certificate(mac)) is not None:
                owned.append((certificate.not_before or certificate.not_after, mac))
        topics: list[DeviceTopics] = []
        left: list[LeftOut] = []
        for _, mac in sorted(owned):
            state = self._devices.get(mac)
            model = self._enrolled_topics(mac, state)
            if model is None:
                continue  # not seen since the upgrade: its pin is completed on first sight
            try:
                topics.append(self.acl_topics(mac, state.device if state else None, model))
            except PkiError as err:
                left.append(LeftOut(mac, mac, err.code, str(err)))
        return topics, left

    def _enrolled_topics(self, mac: str, state: DeviceState | None) -> TopicModel | None:
        pin = self.pins.pins.get(mac)
        model = self._topics_of_pin(mac, pin) if pin is not None else None
        if model is None and state is not None and not self.pins.moved(state.device):
            model = state.device.topics  # enrolled before topics were pinned
        return model

    def _topics_of_pin(self, mac: str, pin: Address) -> TopicModel | None:
        known = self._pin_topics.get(mac)
        if known is None or known[0] is not pin:
            known = self._pin_topics[mac] = (pin, pinned_topics(pin, mac))
        return known[1]

    def _owner_claims(self) -> ClaimIndex:
        """What every MAC that owns a certificate has claimed (cached per state change)."""
        key = (id(self._ca.snapshot), self.pins.version, self._journal.version)
        if self._claims is not None and self._claims[0] == key:
            return self._claims[1]
        claims = []
        for mac in {*self.pins.pins, *self._journal.certificates}:
            certificate = self.certificate(mac)
            if certificate is None or certificate.status == "revoked":
                continue
            claims.append(self._claim_of(mac, certificate.cn))
        index = ClaimIndex(claims)
        self._claims = (key, index)
        return index

    def _claim_of(self, mac: str, cn: str) -> Claim:
        pin = self.pins.pins.get(mac)
        state = self._devices.get(mac)
        model = self._enrolled_topics(mac, state)
        name = self._journal.names.get(mac) or cn
        ip = pin["ip"] if pin is not None else (state.device.ip if state else "")
        if model is None:  # a legacy pin of a device not seen yet: its command topic only
            roots = (pin["command_topic"],) if pin is not None else ()
            return Claim(mac, name, ip, None, None, roots)
        return Claim(mac, name, ip, model.topic, model.lwt_topic, model.bases())

    # ---- repairs -----------------------------------------------------------------------

    @callback
    def check(self, state: DeviceState) -> None:
        """Raise or clear the device's repairs; pin an enrolled device seen the first time."""
        device = state.device
        if not state.present:
            return
        pin = self.pins.pins.get(device.mac)
        owns = self.certificate(device.mac) is not None
        if owns and (pin is None or (is_legacy(pin) and not self.pins.moved(device))):
            # Enrolled before addresses (or their topics) were pinned: trusted on first sight.
            self._hass.async_create_task(self.pins.async_pin(device), eager_start=True)
            return
        moved = self.pins.moved(device)
        if moved:
            _LOGGER.warning(
                "Tasmota %s announces a new address (%s, %s); no key is sent there until "
                "the change is confirmed in Repairs",
                device.mac,
                device.ip,
                " ".join(device.topics.bases()),
            )
        entry_id = self._settings.entry_id
        placeholders = self.address_placeholders(device.mac) if moved else None
        async_set_issue(self._hass, ISSUE_ADDRESS_CHANGED, entry_id, moved, placeholders,
                        mac=device.mac, fixable=True)  # fmt: skip
        refusal = None if moved else self.refusal(device)
        text = repr(refusal)
        if refusal is not None and self._reported.get(device.mac) != text:
            _LOGGER.warning("Tasmota %s gets no key: %s", device.mac, refusal.placeholders)
        self._reported[device.mac] = text
        for kind in (ISSUE_IDENTITY_CONFLICT, ISSUE_TOPICS_REFUSED):
            shown = refusal.placeholders if refusal is not None and refusal.kind == kind else None
            async_set_issue(self._hass, kind, entry_id, shown is not None, shown, mac=device.mac)

    async def async_forget(self, mac: str) -> None:
        """Drop a device the user removed: its pin and its repairs."""
        await self.pins.async_forget(mac)
        self._reported.pop(mac, None)
        for kind in (ISSUE_ADDRESS_CHANGED, ISSUE_IDENTITY_CONFLICT, ISSUE_TOPICS_REFUSED):
            async_set_issue(self._hass, kind, self._settings.entry_id, False, mac=mac)
