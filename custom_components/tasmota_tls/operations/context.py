"""What the operations work with: the entry's runtime pieces below them, built once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from ..addon.hooks import AddonHooks
from ..address_guard import AddressGuard
from ..broker_bundle import BrokerBundle
from ..ca import CertificateAuthority
from ..custody import PassphraseCustody
from ..engine_options import EngineOptions
from ..events import DeviceEvents
from ..failures import FailureRepairs
from ..journal import EnrolmentJournal
from ..read_model import DeviceReadModel
from ..settings import EntrySettings
from ..tracker import DeviceTracker


@dataclass(frozen=True)
class OperationContext:
    """The lower layers one entry's operations use (runtime.py builds it)."""

    hass: HomeAssistant
    entry: ConfigEntry[Any]  # background tasks and unload callbacks end with the entry
    settings: EntrySettings
    ca: CertificateAuthority
    journal: EnrolmentJournal
    tracker: DeviceTracker
    view: DeviceReadModel
    guard: AddressGuard
    custody: PassphraseCustody
    engine: EngineOptions
    bundle: BrokerBundle
    addon: AddonHooks
    events: DeviceEvents
    failures: FailureRepairs
