"""Which certificate belongs to which device: by the MAC it was issued for, never by name.

Anyone on the broker can announce a new MAC with an enrolled device's topic. Were a
certificate found by its name (the topic), that stranger would count as enrolled, be
due for renewal and receive a fresh key with the victim's name. So a certificate is a
device's only when the CA's index names that MAC (certificates issued since MACs are
recorded) or the journal does (it was issued for that MAC here before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..pki import IndexEntry

if TYPE_CHECKING:
    from ..ca import CaSnapshot
    from ..journal import EnrolmentJournal


def owner_of(entry: IndexEntry, journal: EnrolmentJournal) -> str | None:
    """The MAC a certificate was issued for; None for one issued elsewhere (CLI, Easy-RSA)."""
    return entry.mac or journal.owners.get(entry.serial)


def certificate_of(
    snapshot: CaSnapshot | None, journal: EnrolmentJournal, mac: str
) -> IndexEntry | None:
    """The certificate device ``mac`` uses: the one it was last confirmed on, else its newest."""
    if snapshot is None:
        return None
    serial = journal.certificates.get(mac)
    if serial is not None:
        entry = snapshot.by_serial.get(serial)
        if entry is not None and owner_of(entry, journal) == mac:
            return entry
    entry = snapshot.newest_for_mac(mac)
    if entry is None:
        return None
    # A newer certificate whose renewal was never confirmed is not the one in use.
    return entry if serial is None else None


def owned_entry(
    snapshot: CaSnapshot | None, journal: EnrolmentJournal, mac: str, serial: str
) -> IndexEntry | None:
    """A certificate of ``mac`` by serial; None when the serial is another's or unknown."""
    if snapshot is None:
        return None
    wanted = serial.lower().removeprefix("0x").lstrip("0")
    entry = snapshot.by_serial.get(wanted)
    if entry is None or entry.kind != "device" or owner_of(entry, journal) != mac:
        return None
    return entry
