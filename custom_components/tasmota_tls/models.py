"""The runtime data one entry's platforms, actions, repairs and diagnostics use.

The top of the integration's runtime: runtime.py builds it, and nothing below the
platforms imports it. Layers, each importing only those below:
platforms, actions, repairs -> this -> lifecycle, device_feed -> operations ->
read_model -> address_guard, tracker, the CA, the journal -> the core (pki, enrolment).
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .address_guard import AddressGuard
from .broker_bundle import BrokerBundle
from .ca import CertificateAuthority
from .custody import PassphraseCustody
from .device_feed import DeviceFeed
from .lifecycle import Lifecycle
from .operations import OperationRunner
from .read_model import DeviceReadModel
from .settings import EntrySettings


@dataclass(frozen=True)
class TasmotaTlsData:
    """Everything one entry runs on."""

    settings: EntrySettings
    ca: CertificateAuthority
    view: DeviceReadModel  # what entities show, pushed per MAC
    guard: AddressGuard  # pins, ownership, the spoofing checks
    custody: PassphraseCustody
    operations: OperationRunner
    bundle: BrokerBundle
    feed: DeviceFeed
    lifecycle: Lifecycle


type TasmotaTlsConfigEntry = ConfigEntry[TasmotaTlsData]
