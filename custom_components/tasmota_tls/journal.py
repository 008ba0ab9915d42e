"""The enrolment journal: each device's last enrolment record and current certificate.

Saved through Home Assistant's Store before every enrolment step, so a restart in
the middle of an enrolment finds the record and resumes it. Records never hold key
material (the engine guarantees it); the store only adds serial numbers.

``owners`` binds every certificate issued here to the MAC it was issued for (serial ->
MAC), written before the key leaves Home Assistant. With the MAC in the CA's index it
is what links a certificate to a device; a certificate's name never does.

``requested`` holds the enrolments and renewals asked for that have not started yet
(MAC -> operation, in the order asked), so that a reload or a restart queues them again.
Only the operation is kept: never a passphrase. A request ends when its operation
writes its first record, or ends without one.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .device_state import Operation
from .enrolment import EnrolmentRecord

STORAGE_VERSION = 1


class _JournalData(TypedDict):
    records: dict[str, dict[str, Any]]
    certificates: dict[str, str]
    names: dict[str, str]
    owners: dict[str, str]
    requested: NotRequired[dict[str, str]]  # absent in journals written before it existed


_OPERATIONS = ("enrol", "renew")


class EnrolmentJournal:
    """Per device (by MAC): last record, serial of the certificate in use, certificate name."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's storage file (nothing is read yet)."""
        self._store: Store[_JournalData] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.journal", private=True
        )
        self.records: dict[str, EnrolmentRecord] = {}
        self.certificates: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.owners: dict[str, str] = {}
        self.requested: dict[str, Operation] = {}
        # Each record as saved: a step rewrites its own device's only (a fleet of N
        # devices would otherwise convert N records at each of the N enrolments' steps).
        self._saved_records: dict[str, dict[str, Any]] = {}
        # Changes with certificates, names and owners (not with records): cache key for
        # the address guard, whose claims are built from those alone.
        self.version = 0

    async def async_load(self) -> None:
        """Read the journal written before the last shutdown."""
        data = await self._store.async_load()
        if data is None:
            return
        self.records = {
            mac: EnrolmentRecord.from_dict(record) for mac, record in data["records"].items()
        }
        self._saved_records = {mac: record.to_dict() for mac, record in self.records.items()}
        self.version += 1
        self.certificates = dict(data["certificates"])
        self.names = dict(data.get("names", {}))
        # Journals written before owners existed: what they say a MAC used is its own.
        owners = {r.serial: mac for mac, r in self.records.items() if r.serial}
        owners |= {serial: mac for mac, serial in self.certificates.items()}
        self.owners = owners | dict(data.get("owners", {}))
        self.requested = {
            mac: cast(Operation, operation)
            for mac, operation in data.get("requested", {}).items()
            if operation in _OPERATIONS
        }

    async def async_record(self, record: EnrolmentRecord) -> None:
        """Persist ``record`` now (the engine calls this before each step)."""
        self.records[record.mac] = record
        self._saved_records[record.mac] = record.to_dict()
        self.requested.pop(record.mac, None)  # the operation has started: its record says
        await self._async_save(claims_changed=False)

    async def async_request(self, mac: str, operation: Operation) -> None:
        """Keep an operation that waits for its turn (saved at once, asked order kept)."""
        if self.requested.get(mac) == operation:
            return  # queued again after a reload: already in its place
        self.requested[mac] = operation
        await self._async_save(claims_changed=False)

    async def async_request_done(self, mac: str) -> None:
        """The requested operation ended (its record, if it wrote one, says how)."""
        if self.requested.pop(mac, None) is not None:
            await self._async_save(claims_changed=False)

    async def async_bind(self, serial: str, mac: str) -> None:
        """Record that certificate ``serial`` was issued for ``mac`` (before its key is sent)."""
        self.owners[serial] = mac
        await self._async_save()

    async def async_set_certificate(self, mac: str, serial: str, name: str) -> None:
        """Remember which certificate a device now uses."""
        self.certificates[mac] = serial
        self.names[mac] = name
        self.owners[serial] = mac
        await self._async_save()

    async def async_forget(self, mac: str) -> None:
        """Drop a device removed by the user."""
        self.records.pop(mac, None)
        self._saved_records.pop(mac, None)
        self.certificates.pop(mac, None)
        self.names.pop(mac, None)
        self.requested.pop(mac, None)
        await self._async_save()

    def pending(self) -> list[EnrolmentRecord]:
        """Records of enrolments that were still running."""
        return [record for record in self.records.values() if not record.finished]

    async def _async_save(self, *, claims_changed: bool = True) -> None:
        if claims_changed:
            self.version += 1
        await self._store.async_save(
            {
                "records": dict(self._saved_records),
                "certificates": dict(self.certificates),
                "names": dict(self.names),
                "owners": dict(self.owners),
                "requested": dict(self.requested),
            }
        )
