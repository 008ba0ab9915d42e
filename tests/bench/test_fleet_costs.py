"""What one device's enrolment step costs must not grow with the fleet.

Measured in bench/side_by_side.py at 200 devices: the journal converted every device's
record at each step of each enrolment (13 s of a 67 s run on the event loop), and the
address guard rebuilt every device's claim after each of those saves.
"""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.enrolment import EnrolmentRecord, EnrolmentStep
from custom_components.tasmota_tls.journal import EnrolmentJournal

FLEET = 200


async def test_a_step_converts_only_its_own_record(hass: HomeAssistant) -> None:
    journal = EnrolmentJournal(hass, "fleet")
    for index in range(FLEET):
        await journal.async_record(EnrolmentRecord.start(f"A4CF12{index:06X}"))
    record = EnrolmentRecord.start("A4CF12000007")
    record.step = EnrolmentStep.SEND_KEY
    version = journal.version
    with patch.object(
        EnrolmentRecord, "to_dict", autospec=True, side_effect=EnrolmentRecord.to_dict
    ) as to_dict:
        await journal.async_record(record)
    assert to_dict.call_count == 1
    assert journal.version == version  # the guard's claims do not depend on records

    reread = EnrolmentJournal(hass, "fleet")
    await reread.async_load()
    assert len(reread.records) == FLEET
    assert reread.records["A4CF12000007"].step == EnrolmentStep.SEND_KEY


async def test_claims_follow_certificates_names_and_owners(hass: HomeAssistant) -> None:
    journal = EnrolmentJournal(hass, "claims")
    seen = {journal.version}
    await journal.async_bind("1a", "A4CF12000001")
    seen.add(journal.version)
    await journal.async_set_certificate("A4CF12000001", "1a", "plug_1")
    seen.add(journal.version)
    await journal.async_forget("A4CF12000001")
    seen.add(journal.version)
    assert len(seen) == 4
