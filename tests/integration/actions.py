"""Doing what a user does in the tests: press a button, call an action, walk a repair flow."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.tasmota_tls.const import DOMAIN
from tests.helpers.constants import MAC

from .helpers import entity_id


async def press(hass: HomeAssistant, entry_id: str, key: str) -> None:
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": entity_id(hass, "button", f"{entry_id}_{MAC}_{key}")},
        blocking=True,
    )


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=service.startswith(("export", "rev"))
    )


async def start_fix(client: Any, issue_id: str) -> dict[str, Any]:
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == HTTPStatus.OK
    return dict(await response.json())


async def submit_fix(client: Any, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=data)
    assert response.status == HTTPStatus.OK
    return dict(await response.json())
