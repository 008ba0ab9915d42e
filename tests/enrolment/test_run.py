"""The journal of one run (run.py): saved before each step, as it stood then."""

from __future__ import annotations

import pytest

from custom_components.tasmota_tls.enrolment import EnrolmentError, EnrolmentRecord, EnrolmentStep
from custom_components.tasmota_tls.enrolment.run import Run

from .fake_firmware import FakeTasmota
from .helpers import JournalLog
from .scripted import DEVICE, options


def new_run(journal: JournalLog) -> Run:
    return Run(FakeTasmota(), options(), DEVICE, EnrolmentRecord.start(DEVICE.mac), journal)


async def test_each_step_is_saved_before_it_runs(journal: JournalLog) -> None:
    run = new_run(journal)
    await run.enter(EnrolmentStep.ISSUE)
    run.record.serial = "later"  # a change after the save is not in what was saved
    assert journal.steps == ["issue"]
    assert journal.last.serial is None
    await run.enter(EnrolmentStep.SEND_KEY)
    assert journal.steps == ["issue", "send_key"]
    assert journal.last.serial == "later"


async def test_a_failure_is_saved_and_raised_with_its_record(journal: JournalLog) -> None:
    run = new_run(journal)
    await run.enter(EnrolmentStep.SEND_CERT)
    with pytest.raises(EnrolmentError) as caught:
        await run.fail(EnrolmentError(EnrolmentStep.SEND_CERT, "length_mismatch", "short"))
    last = journal.last
    assert (last.step, last.failed_step, last.reason, last.detail) == (
        EnrolmentStep.FAILED,
        EnrolmentStep.SEND_CERT,
        "length_mismatch",
        "short",
    )
    assert caught.value.record == last
    assert caught.value.record is not run.record
