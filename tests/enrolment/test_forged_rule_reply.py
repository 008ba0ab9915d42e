"""A forged reply to the first ``Rule<k>`` read: refused before anything changes.

Found by the bench-strength fuzz (tests/fuzz/test_fuzz_replies.py at 10,000 cases): a
reply reporting a slot text that ``Rule<k> <text>`` cannot write back ("1" sets the
enabled flag, '"' clears the slot, "+" appends, control characters cut the text)
was taken as the user's previous rule. The device was switched, DISARM could then
never give the slot back, and the enrolment stopped at DISARM with the rollback rule
armed for good. Such a text is now refused at ISSUE, where nothing has changed yet.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import astuple, dataclass
from typing import Any

import pytest

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentError, EnrolmentStep
from custom_components.tasmota_tls.enrolment.rollback import (
    RuleSlot,
    UnsafeSettingsError,
    check_restorable,
    restore_slot_commands,
)
from custom_components.tasmota_tls.enrolment.transport import parse_cm_reply

from .fake_firmware import FakeTasmota, Rule
from .helpers import Issued, JournalLog
from .scripted import DEVICE, USER_RULE, options, tls_only

UNRESTORABLE = [
    "0",
    "1",
    "2",
    "5",
    "10",
    "1 ON Power1#State DO x ENDON",  # the firmware reads the leading number (strtol)
    "0x5",
    "ON",
    "off",
    "+ ON Power1#State DO x ENDON",
    '"ON Power1#State DO x ENDON',
    "ON Power1#State\x1cDO x ENDON",
    "ON Power1#State\x00DO x ENDON",
    "ON x DO y ENDON " * 40,  # longer than a rule set holds
]


@dataclass
class ForgedRuleRead(FakeTasmota):
    """Answers the first bare ``Rule3`` (the engine's read at ISSUE) with ``body``."""

    body: str = ""
    forged: bool = False

    async def http_command(
        self,
        ip: str,
        port: int,
        command: str,
        password: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        if not self.forged and command.strip().lower() == "rule3":
            self.forged = True
            return parse_cm_reply(200, self.body, ip)
        return await super().http_command(ip, port, command, password, timeout)


def rule_reply(text: str) -> str:
    return json.dumps(
        {"Rule3": {"State": "ON", "Once": "OFF", "StopOnError": "OFF", "Rules": text}}
    )


@pytest.fixture
async def firmware() -> AsyncIterator[ForgedRuleRead]:
    fake = ForgedRuleRead(accepts=tls_only)
    fake.rules[2] = Rule(text=USER_RULE, enabled=True)
    yield fake
    await fake.close()


@pytest.mark.parametrize("text", UNRESTORABLE, ids=[repr(t[:12]) for t in UNRESTORABLE])
async def test_unrestorable_rule_text_fails_before_the_switch(
    firmware: ForgedRuleRead, issuer: Issued, journal: JournalLog, text: str
) -> None:
    firmware.body = rule_reply(text)
    before = (firmware.mqtt_host, firmware.mqtt_port, firmware.so103, firmware.restarts)

    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)

    assert firmware.forged
    assert (caught.value.step, caught.value.reason) == (EnrolmentStep.ISSUE, "unsupported_settings")
    assert journal.last.step == EnrolmentStep.FAILED
    assert "switch" not in journal.steps
    # Nothing the device runs on has changed: no key sent, slot and settings as they were.
    assert not any(c.lower().startswith(("tlskey1 ", "backlog")) for c in firmware.http_commands)
    assert astuple(firmware.rules[2]) == astuple(Rule(text=USER_RULE, enabled=True))
    assert (firmware.mqtt_host, firmware.mqtt_port, firmware.so103, firmware.restarts) == before
    assert not firmware._timers


@pytest.mark.parametrize(
    "text", [USER_RULE, "", "  ", "\x1c", "ON System#Boot DO Power1 1 ENDON", "é"]
)
async def test_restorable_rule_text_is_given_back(
    firmware: ForgedRuleRead, issuer: Issued, journal: JournalLog, text: str
) -> None:
    """A plausible reply is believed: the slot ends up holding what it reported.

    Blank (whitespace, as str.split sees it) counts as empty: the slot is cleared.
    """
    firmware.body = rule_reply(text)
    record = await Enroller(firmware, options()).enrol(DEVICE, issuer, journal)

    assert record.step == EnrolmentStep.DONE
    assert firmware.tls_active and firmware.connected
    assert firmware.rules[2].text == text.strip() and firmware.rules[2].enabled


@pytest.mark.parametrize("text", UNRESTORABLE, ids=[repr(t[:12]) for t in UNRESTORABLE])
def test_check_restorable_refuses(text: str) -> None:
    with pytest.raises(UnsafeSettingsError):
        check_restorable(RuleSlot(text, enabled=True, once=False, stop_on_error=False))


def test_blank_slot_is_cleared_not_sent_as_spaces() -> None:
    slot = RuleSlot("   ", enabled=False, once=False, stop_on_error=False)
    check_restorable(slot)
    assert restore_slot_commands(3, slot)[1] == 'Rule3 "'
