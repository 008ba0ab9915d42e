"""One bad device never stops the broker bundle or the CRL export (issue 11, finding 3).

Two MACs own a certificate each and announce the same topic (so the same ACL user):
the ACL used to fail with "listed twice", and with it the export and every CRL copy.
Now the incumbent keeps its block, the other is left out with a repair, and a
revocation of an unrelated device still reaches the exported CRL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore

from .helpers import device_of, wait_for
from .install import PASSPHRASE, discovery_payload, install
from .mqtt_bus import MqttBus

FIRST, SECOND, LAMP = "A4CF12000001", "A4CF12000002", "A4CF12000003"


async def call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def test_conflicting_device_is_left_out_and_the_crl_still_exported(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    serials: dict[str, str] = {}

    def issue(store: PkiStore) -> None:
        # Issued in this order: FIRST holds "kitchen" first.
        for mac, name in ((FIRST, "kitchen"), (SECOND, "kitchen"), (LAMP, "lamp")):
            serials[mac] = store.issue_device(PASSPHRASE, name, topic=name, mac=mac).entry.serial

    installed = await install(hass, prepare=issue)
    entry_id = installed.entry.entry_id
    for mac, topic, ip in ((FIRST, "kitchen", "127.0.0.2"), (SECOND, "kitchen", "127.0.0.3"),
                           (LAMP, "lamp", "127.0.0.4")):  # fmt: skip
        mqtt_bus.retain(
            f"tasmota/discovery/{mac}/config", discovery_payload(mac=mac, ip=ip, topic=topic)
        )
    pins = installed.entry.runtime_data.guard.pins
    await wait_for(hass, lambda: all(m in pins.pins for m in (FIRST, SECOND, LAMP)))

    bundle = await call(hass, "export_broker_bundle", {})
    assert bundle["devices_left_out"] == [SECOND]
    acl = await hass.async_add_executor_job(Path(bundle["files"]["acl"]).read_text)
    assert acl.count("user kitchen\n") == 1 and "user lamp\n" in acl
    left_out = ir.async_get(hass).async_get_issue(DOMAIN, f"acl_left_out_{entry_id}_{SECOND}")
    assert left_out is not None and left_out.translation_placeholders is not None
    assert "kitchen" in left_out.translation_placeholders["reason"]

    # A revocation of an unrelated device reaches the exported CRL all the same.
    revoked = await call(hass, "revoke", {"device_id": device_of(hass, LAMP).id})
    assert revoked["serial"] == serials[LAMP]
    crl_pem = await hass.async_add_executor_job(Path(bundle["files"]["crl"]).read_bytes)
    exported = x509.load_pem_x509_crl(crl_pem)
    assert exported.get_revoked_certificate_by_serial_number(int(serials[LAMP], 16)) is not None
