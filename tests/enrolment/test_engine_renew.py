"""renew() against a scripted firmware: a new key, a restart, back over TLS."""

from __future__ import annotations

import pytest

from custom_components.tasmota_tls.enrolment import Enroller, EnrolmentError, EnrolmentStep

from .fake_firmware import FakeTasmota
from .helpers import Issued, JournalLog
from .scripted import DEVICE, TLS_PORT, options, tls_only


async def test_renew_loads_new_key_and_reconnects(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(
        mqtt_port=TLS_PORT, so103=True, accepts=tls_only, key_len=32, cert_len=400
    )
    try:
        record = await Enroller(firmware, options()).renew(DEVICE, issuer, journal)
    finally:
        await firmware.close()
    credential = issuer.credentials[0]
    assert credential.payloads is not None
    assert record.step == EnrolmentStep.DONE and record.operation == "renew"
    assert firmware.cert_len == credential.payloads.der_bytes
    assert firmware.restarts == 1 and firmware.tls_active
    assert record.serial == credential.entry.serial


async def test_renew_refuses_a_device_not_on_tls(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota()
    with pytest.raises(EnrolmentError) as caught:
        await Enroller(firmware, options()).renew(DEVICE, issuer, journal)
    assert caught.value.reason == "not_enrolled" and issuer.credentials == []


async def test_renew_that_never_comes_back_times_out(issuer: Issued, journal: JournalLog) -> None:
    firmware = FakeTasmota(mqtt_port=TLS_PORT, so103=True, accepts=lambda *_: False)
    try:
        with pytest.raises(EnrolmentError) as caught:
            await Enroller(firmware, options(wait_online_timeout=0.5)).renew(
                DEVICE, issuer, journal
            )
    finally:
        await firmware.close()
    assert caught.value.reason == "timeout" and caught.value.step == EnrolmentStep.WAIT_ONLINE
