"""The "Broker certificate unknown" repair exports the broker bundle."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tasmota_tls.const import DOMAIN

from .actions import start_fix, submit_fix
from .install import BROKER_HOST, PASSPHRASE, install
from .mqtt_bus import MqttBus


def _issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"broker_certificate_missing_{entry_id}")


def _fields(flow: dict[str, object]) -> list[str]:
    return [str(field["name"]) for field in flow["data_schema"]]  # type: ignore[attr-defined]


async def test_the_repair_exports_the_bundle(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    installed = await install(hass, broker_host=None)
    entry_id = installed.entry.entry_id
    found = _issue(hass, entry_id)
    assert found is not None and found.is_fixable
    assert found.translation_key == "broker_certificate_missing"
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()

    flow = await start_fix(client, f"broker_certificate_missing_{entry_id}")
    assert (flow["step_id"], _fields(flow)) == ("export", ["layout"])  # unattended: no passphrase
    flow = await submit_fix(client, flow["flow_id"], {"layout": "folder"})
    assert flow["step_id"] == "done"
    directory = Path(flow["description_placeholders"]["directory"])
    assert flow["description_placeholders"]["readme"].startswith(str(directory))
    written = await hass.async_add_executor_job(lambda: {p.name for p in directory.iterdir()})
    assert {"broker.crt", "broker.key", "ca.crt", "crl.pem"} <= written
    # The broker certificate exists now, for the configured host: the issue is solved.
    certificate = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert certificate is not None and BROKER_HOST in certificate.subject.rfc4514_string()
    assert _issue(hass, entry_id) is None
    flow = await submit_fix(client, flow["flow_id"], {})
    assert flow["type"] == "create_entry"


async def test_attended_custody_asks_for_the_passphrase(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    installed = await install(hass, custody="attended", broker_host=None)
    entry_id = installed.entry.entry_id
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    flow = await start_fix(client, f"broker_certificate_missing_{entry_id}")
    assert _fields(flow) == ["layout", "passphrase"]
    flow = await submit_fix(client, flow["flow_id"], {"layout": "server", "passphrase": "wrong"})
    assert (flow["step_id"], flow["errors"]) == ("export", {"base": "wrong_passphrase"})
    assert _issue(hass, entry_id) is not None
    assert await hass.async_add_executor_job(installed.store.broker_certificate) is None
    flow = await submit_fix(client, flow["flow_id"], {"layout": "server", "passphrase": PASSPHRASE})
    assert flow["step_id"] == "done"
    assert _issue(hass, entry_id) is None


async def test_a_failed_export_says_why(
    hass: HomeAssistant, mqtt_bus: MqttBus, hass_client: ClientSessionGenerator
) -> None:
    installed = await install(hass, broker_host=None)
    entry_id = installed.entry.entry_id
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    flow = await start_fix(client, f"broker_certificate_missing_{entry_id}")
    failure = HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="export_failed",
        translation_placeholders={"error": "No space left on device"},
    )
    with patch("custom_components.tasmota_tls.repairs.async_export_broker_bundle",
               side_effect=failure):  # fmt: skip
        flow = await submit_fix(client, flow["flow_id"], {"layout": "folder"})
    assert (flow["step_id"], flow["errors"]) == ("export", {"base": "export_failed"})
    assert "No space left on device" in flow["description_placeholders"]["error"]
    assert _issue(hass, entry_id) is not None
