"""What the enrolment tests share: an issuer and a journal that record everything, a device."""

from __future__ import annotations

import json
from typing import Any

from custom_components.tasmota_tls.discovery import TasmotaDevice
from custom_components.tasmota_tls.enrolment import EnrolmentRecord
from custom_components.tasmota_tls.pki import IssuedCredential, PkiStore
from tests.helpers.constants import MAC

PASSPHRASE = "correct horse battery staple"


class Issued:
    """An Issuer that remembers what it handed out (so tests can look for leaks)."""

    def __init__(self, store: PkiStore, name: str, topic: str) -> None:
        self.store, self.name, self.topic = store, name, topic
        self.credentials: list[IssuedCredential] = []

    async def __call__(self) -> IssuedCredential:
        credential = self.store.issue_device(
            PASSPHRASE, self.name, topic=self.topic, command_topic=f"cmnd/{self.topic}/TLSKey2"
        )
        self.credentials.append(credential)
        return credential

    def secrets(self) -> list[str]:
        """Every text that must never appear in a record, log or error."""
        found: list[str] = []
        for credential in self.credentials:
            assert credential.payloads is not None
            found += [credential.payloads.tlskey1, credential.payloads.tlskey2[:40]]
        return found


class JournalLog:
    """A Journal that keeps every record as the integration would store it (JSON)."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, record: EnrolmentRecord) -> None:
        data = record.to_dict()
        json.dumps(data)  # must be storable as JSON
        self.saved.append(data)

    @property
    def steps(self) -> list[str]:
        return [entry["step"] for entry in self.saved]

    @property
    def last(self) -> EnrolmentRecord:
        return EnrolmentRecord.from_dict(self.saved[-1])

    def text(self) -> str:
        return json.dumps(self.saved)


def device_for(topic: str, ip: str, mac: str = MAC) -> TasmotaDevice:
    return TasmotaDevice(
        mac=mac,
        ip=ip,
        topic=topic,
        full_topic="%prefix%/%topic%/",
        prefixes=("cmnd", "stat", "tele"),
        hostname=f"{topic}-1234",
        name=topic,
        firmware="14.5.0",
        model="Sonoff Basic",
        online_payload="Online",
        offline_payload="Offline",
    )
