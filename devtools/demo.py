"""--demo: onboard an owner and create the integration's entry through the HTTP API.

Everything here is what a person would click, done through the same endpoints the
frontend calls: onboarding, the config flow, the options flow and an action.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .ha_api import HaApiError, HomeAssistantApi, Login
from .workspace import LOOPBACK

LOGGER = logging.getLogger("develop")
DOMAIN = "tasmota_tls"
# The entry title is the CA card's title on the dashboard: short enough to show whole.
CA_NAME = "Development CA"


@dataclass(frozen=True)
class DemoSettings:
    login: Login
    ca_passphrase: str
    tls_port: int
    device_http_port: int
    devices: int


async def wait_for[T](
    what: str,
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = 60.0,  # noqa: ASYNC109 (a deadline for polling, named in the error)
) -> T:
    """Poll ``probe`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


async def entry_loaded(api: HomeAssistantApi, domain: str) -> dict[str, Any] | None:
    for entry in await api.config_entries(domain):
        if entry["state"] == "loaded":
            return entry
    return None


async def create_entry(api: HomeAssistantApi, settings: DemoSettings) -> str:
    """The integration's config flow: a new RSA CA, unattended, broker on loopback."""
    result = await api.flow(
        DOMAIN,
        {"next_step_id": "create_ca"},
        {
            "ca_name": CA_NAME,
            "ca_algorithm": "rsa",
            "custody": "unattended",
            "passphrase": settings.ca_passphrase,
            "passphrase_confirm": settings.ca_passphrase,
        },
        {"broker_host": LOOPBACK, "broker_port": settings.tls_port},
        # Warnings, each confirmed as a user would: broker_mismatch (devices use another
        # name today), broker_unresolved, broker_unreachable (expected here: the TLS
        # listener comes with the bundle, exported after the entry exists).
        {},
        {},
        {},
    )
    if result["type"] != "create_entry":
        raise HaApiError(f"config flow ended with {result}")
    return str(result["result"]["entry_id"])


async def ensure_tasmota_entry(api: HomeAssistantApi) -> None:
    """Home Assistant's own Tasmota integration, as a user of this project already has it.

    Its devices are the ones our entities attach to (matched by MAC).
    """
    if not await api.config_entries("tasmota"):
        LOGGER.info("Setting up Home Assistant's Tasmota integration")
        result = await api.flow("tasmota", {})
        if result["type"] != "create_entry":
            raise HaApiError(f"Tasmota config flow ended with {result}")


async def set_device_http_port(api: HomeAssistantApi, entry_id: str, port: int) -> None:
    """Options flow: the port the devices serve HTTP on (80 unless run without root)."""
    flow = await api.request(
        "POST", "/api/config/config_entries/options/flow", json_body={"handler": entry_id}
    )
    current = {
        field["name"]: field.get("description", {}).get("suggested_value")
        for field in flow["data_schema"]
    }
    values = {k: v for k, v in current.items() if v is not None}
    values["http_port"] = port
    await api.request(
        "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}", json_body=values
    )


async def device_entities(api: HomeAssistantApi, key: str) -> list[dict[str, Any]]:
    """The integration's per-device entities of one kind (unique ID ends with ``_key``)."""
    pattern = re.compile(rf"^[^_]+_[0-9A-F]{{12}}_{re.escape(key)}$")
    entities = await api.ws("config/entity_registry/list")
    return [e for e in entities if e["platform"] == DOMAIN and pattern.match(e["unique_id"])]


async def remove_online_services(api: HomeAssistantApi) -> None:
    """Remove Google Translate speech, an online service, from an offline demo.

    New instances never get it (hass_config.seed_onboarding); this is for a config folder
    onboarded before that, where onboarding's location step added it.
    """
    for entry in await api.config_entries("google_translate"):
        await api.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")


async def prepare(
    api: HomeAssistantApi, settings: DemoSettings, after_bundle: Callable[[], Awaitable[object]]
) -> str:
    """Onboard, create the entry (first start only), export the bundle; the entry ID."""
    steps = await api.onboarding_steps()
    if steps and not all(steps.values()):
        await api.onboard(settings.login)
        await remove_online_services(api)
    else:
        await api.login(settings.login)
    await wait_for("the MQTT integration", lambda: entry_loaded(api, "mqtt"))
    await ensure_tasmota_entry(api)
    entries = await api.config_entries(DOMAIN)
    if entries:
        entry_id = str(entries[0]["entry_id"])
    else:
        LOGGER.info("Creating the Tasmota TLS entry with a new CA")
        entry_id = await create_entry(api, settings)
        if settings.device_http_port != 80:
            await set_device_http_port(api, entry_id, settings.device_http_port)
    await wait_for("the Tasmota TLS entry", lambda: entry_loaded(api, DOMAIN))
    reply = await api.call_service(
        DOMAIN, "export_broker_bundle", {"config_entry_id": entry_id}, response=True
    )
    LOGGER.info("Broker bundle in %s", reply.get("service_response", {}).get("directory"))
    await after_bundle()

    async def all_devices() -> bool:
        return len(await device_entities(api, "tls_status")) >= settings.devices

    await wait_for(f"{settings.devices} devices in Home Assistant", all_devices)
    return entry_id
