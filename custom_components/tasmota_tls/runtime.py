"""Builds one entry's runtime from its CA, journal and secrets (the composition root)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from .addon.hooks import AddonHooks
from .address_guard import AddressGuard
from .broker_bundle import BrokerBundle
from .ca import CertificateAuthority
from .custody import PassphraseCustody
from .device_feed import DeviceFeed
from .device_state import DeviceState
from .engine_options import EngineOptions
from .events import DeviceEvents
from .failures import FailureRepairs
from .journal import EnrolmentJournal
from .lifecycle import Lifecycle
from .models import TasmotaTlsConfigEntry, TasmotaTlsData
from .operations import OperationContext, OperationRunner
from .read_model import DeviceReadModel
from .secret_store import SecretStore
from .settings import EngineTiming, EntrySettings
from .tracker import DeviceTracker

DEFAULT_TIMING = EngineTiming()  # the engine's own waits, made for real devices


def build_runtime(
    hass: HomeAssistant,
    entry: TasmotaTlsConfigEntry,
    ca: CertificateAuthority,
    journal: EnrolmentJournal,
    secrets: SecretStore,
    *,
    timing: EngineTiming = DEFAULT_TIMING,
) -> TasmotaTlsData:
    """Wire the entry's pieces; nothing is subscribed or started yet."""
    settings = EntrySettings.from_entry(entry)
    feed: DeviceFeed | None = None

    def added(state: DeviceState) -> None:
        assert feed is not None
        feed.async_device_added(state)

    def changed(state: DeviceState) -> None:
        assert feed is not None
        feed.async_device_changed(state)

    tracker = DeviceTracker(hass, lambda: settings.broker_port, added, changed)
    guard = AddressGuard(hass, settings, ca, journal, tracker.devices)
    engine = EngineOptions(settings, ca, secrets, timing)
    view = DeviceReadModel(hass, settings, ca, tracker.devices, guard, journal, engine)
    events = DeviceEvents(hass, settings.entry_id)
    custody = PassphraseCustody(hass, settings, ca, secrets)
    bundle = BrokerBundle(hass, settings, ca, view)
    failures = FailureRepairs(
        hass, settings, lambda: [view.failure_reason(mac) for mac in view.devices]
    )
    addon = AddonHooks(hass, settings, view, guard, events)
    context = OperationContext(
        hass=hass,
        entry=entry,
        settings=settings,
        ca=ca,
        journal=journal,
        tracker=tracker,
        view=view,
        guard=guard,
        custody=custody,
        engine=engine,
        bundle=bundle,
        addon=addon,
        events=events,
        failures=failures,
    )
    operations = OperationRunner(context)
    feed = DeviceFeed(hass, entry, tracker, journal, guard, view, operations)
    lifecycle = Lifecycle(hass, entry, settings, ca, view, operations, custody, events, bundle)
    return TasmotaTlsData(
        settings=settings,
        ca=ca,
        view=view,
        guard=guard,
        custody=custody,
        operations=operations,
        bundle=bundle,
        feed=feed,
        lifecycle=lifecycle,
    )
