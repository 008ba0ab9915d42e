"""One operation on one device: what it runs through, and the journal written before each step.

The record is saved (a deep copy, so later changes cannot leak into what was stored)
before every step starts: after a restart, resume() continues from the last saved step.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, NoReturn

from .device_link import DeviceLink
from .model import (
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
    Journal,
    utc_now,
)

if TYPE_CHECKING:
    from ..discovery import TasmotaDevice
    from .transport import Transport

_LOGGER = logging.getLogger(__name__)


class Run:
    """One operation on one device: its transport, options, record, journal and device link."""

    def __init__(
        self,
        transport: Transport,
        options: EnrolmentOptions,
        device: TasmotaDevice,
        record: EnrolmentRecord,
        journal: Journal,
    ) -> None:
        self.transport = transport
        self.options = options
        self.link = DeviceLink(transport, device, options)
        self.record = record
        self._journal = journal
        self.needs_ecdsa = False  # CA mode with an EC CA: see ecdsa.py

    async def enter(self, step: EnrolmentStep) -> None:
        self.record.step = step
        await self.save()

    async def save(self) -> None:
        self.record.updated_at = utc_now()
        await self._journal(copy.deepcopy(self.record))

    async def fail(self, err: EnrolmentError) -> NoReturn:
        self.record.step = EnrolmentStep.FAILED
        self.record.failed_step = err.step
        self.record.reason = err.reason
        self.record.detail = err.detail
        await self.save()
        _LOGGER.warning("%s: enrolment failed at %s: %s", self.record.mac, err.step, err.reason)
        err.record = copy.deepcopy(self.record)
        raise err
