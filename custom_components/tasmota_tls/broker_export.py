"""The export_broker_bundle action and repair: the bundle, then what it may have solved."""

from __future__ import annotations

from typing import Any

from .models import TasmotaTlsConfigEntry


async def async_export_broker_bundle(
    entry: TasmotaTlsConfigEntry, passphrase: str, layout: str, *, rotate: bool = False
) -> dict[str, Any]:
    """Write the bundle (broker_bundle.BrokerBundle.async_export); the action's response."""
    data = entry.runtime_data
    response = await data.bundle.async_export(passphrase, layout, rotate=rotate)
    await data.lifecycle.async_check()  # repairs about the broker may be solved
    data.view.async_notify()
    return response
