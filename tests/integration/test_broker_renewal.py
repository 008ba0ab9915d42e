"""The broker certificate's upkeep: a repair 60 days ahead, a same-key renewal at 30, an EC key.

Time moves with the freezer and the lifecycle's hourly timer, as in test_lifecycle.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.tasmota_tls.broker_check import BrokerCheck
from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS
from custom_components.tasmota_tls.const import DOMAIN
from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from custom_components.tasmota_tls.settings import EngineTiming
from tests.helpers.constants import MAC

from .actions import call
from .devices import discovered
from .helpers import collect_events, state_of, wait_for
from .install import BROKER_HOST, PASSPHRASE, install, make_ca
from .mqtt_bus import MqttBus

TOPIC = "plug_abcdef"

# cryptography looks datetime.datetime up once, at its first certificate, and keeps it:
# first done under the freezer it would keep the fake class and refuse real datetimes in
# every later test. Sign one certificate now, with the real class.
make_ca()


@pytest.fixture
def engine_timing() -> EngineTiming:
    return EngineTiming(step_timeout=0.3, poll_interval=0.1, wait_online_timeout=1.0)


def broker_for_days(days: int) -> Callable[[PkiStore], None]:
    """Re-issue the store's broker certificate (same key) so that it has ``days`` left."""

    def prepare(store: PkiStore) -> None:
        store.issue_broker(PASSPHRASE, BROKER_HOST, days=days, keep_key=True)
        store.issue_device(PASSPHRASE, TOPIC, topic=TOPIC, mac=MAC)

    return prepare


def issue(hass: HomeAssistant, kind: str, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}")


async def days_later(hass: HomeAssistant, freezer: FrozenDateTimeFactory, days: int) -> None:
    """Move the clock on, then let the lifecycle's hourly check run."""
    freezer.tick(dt.timedelta(days=days))
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(hours=1, minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)


def read(path: str) -> bytes:
    return Path(path).read_bytes()


async def test_repair_before_expiry_then_renewal_with_the_same_key(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.tasmota_tls")
    installed = await install(hass, prepare=broker_for_days(90))
    entry_id = installed.entry.entry_id
    await discovered(hass, mqtt_bus)
    pinned = installed.broker_fingerprint
    bundle = await call(hass, "export_broker_bundle", {})
    assert bundle["new_broker_key"] is False
    files = bundle["files"]
    old_cert, old_key = read(files["cert"]), read(files["key"])
    old = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert old is not None
    events = collect_events(hass)
    assert issue(hass, "broker_expiring", entry_id) is None  # 90 days left: quiet

    await days_later(hass, freezer, 31)  # 59 days left: the repair, no renewal yet
    found = issue(hass, "broker_expiring", entry_id)
    assert found is not None
    assert not found.is_fixable  # a description only (hassfest: never with a fix flow)
    assert found.translation_placeholders == {
        "expires": old.not_valid_after_utc.date().isoformat(),
        "renew_on": (old.not_valid_after_utc - dt.timedelta(days=30)).date().isoformat(),
        "names": BROKER_HOST,
    }
    assert issue(hass, "broker_expiring_manual", entry_id) is None
    assert read(files["cert"]) == old_cert
    assert events == []

    await days_later(hass, freezer, 30)  # 29 days left: renewed
    new = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert new is not None
    assert new.serial_number != old.serial_number
    assert new.not_valid_after_utc - dt_util.utcnow() > dt.timedelta(days=800)
    assert tasmota_fingerprint(new) == pinned  # the same key: every pin holds
    assert installed.entry.runtime_data.ca.snapshot.broker_fingerprint == pinned
    # The exported bundle carries the new certificate, and the key it had.
    assert read(files["cert"]) != old_cert
    assert read(files["cert"]).decode().strip() in new_pem(new)
    assert read(files["key"]) == old_key
    renewed = [e for e in events if e["type"] == "broker_renewed"]
    assert len(renewed) == 1
    assert renewed[0]["serial"] == f"{new.serial_number:x}"
    assert renewed[0]["fingerprint"] == pinned
    assert renewed[0]["fingerprint_changed"] is False
    assert renewed[0]["not_after"] == new.not_valid_after_utc.isoformat()
    assert "Renewed the broker certificate with the same key" in caplog.text
    assert renewed[0]["bundle_layouts"] == ["folder"]
    assert "(folder) is updated: install it and reload the broker" in caplog.text
    assert "PRIVATE KEY" not in caplog.text + repr(events)
    assert issue(hass, "broker_expiring", entry_id) is None
    expiry = state_of(hass, "sensor", f"{entry_id}_broker_certificate_expiry").state
    assert dt.datetime.fromisoformat(expiry) == new.not_valid_after_utc
    # Enrolments pin the same key, with no second slot to fill.
    options = installed.entry.runtime_data.operations.enrolment_options()
    assert (options.fingerprint, options.next_fingerprint) == (pinned, None)

    await days_later(hass, freezer, 1)  # renewed once, not every hour
    assert len([e for e in events if e["type"] == "broker_renewed"]) == 1


def new_pem(certificate: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("custody", "options"), [("attended", {}), ("unattended", {"auto_renew": False})]
)
async def test_no_automatic_renewal_is_a_repair_for_the_user(
    hass: HomeAssistant,
    mqtt_bus: MqttBus,
    freezer: FrozenDateTimeFactory,
    custody: str,
    options: dict[str, Any],
) -> None:
    installed = await install(hass, custody=custody, options=options, prepare=broker_for_days(50))
    entry_id = installed.entry.entry_id
    old = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert old is not None
    assert issue(hass, "broker_expiring_manual", entry_id) is not None
    assert issue(hass, "broker_expiring", entry_id) is None
    await days_later(hass, freezer, 25)  # 25 days left: still nobody may renew it
    now = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert now is not None and now.serial_number == old.serial_number
    found = issue(hass, "broker_expiring_manual", entry_id)
    assert found is not None and not found.is_fixable


async def test_failed_renewal_asks_the_user(
    hass: HomeAssistant, mqtt_bus: MqttBus, caplog: pytest.LogCaptureFixture
) -> None:
    from custom_components.tasmota_tls.pki import PkiError

    with patch.object(PkiStore, "renew_broker", side_effect=PkiError("disk says no")):
        installed = await install(hass, prepare=broker_for_days(20))
    entry_id = installed.entry.entry_id
    assert "Could not renew the broker certificate: disk says no" in caplog.text
    assert issue(hass, "broker_expiring_manual", entry_id) is not None
    assert issue(hass, "broker_expiring", entry_id) is None


async def test_host_change_keeps_the_key_and_rotation_is_asked_for(
    hass: HomeAssistant, mqtt_bus: MqttBus
) -> None:
    installed = await install(hass, prepare=broker_for_days(400))
    entry = installed.entry
    await discovered(hass, mqtt_bus)
    pinned = installed.broker_fingerprint

    hass.config_entries.async_update_entry(entry, data={**entry.data, "broker_host": "new.lan"})
    await hass.async_block_till_done()  # reloaded: the device is discovered again
    await wait_for(hass, lambda: MAC in entry.runtime_data.view.devices)
    mqtt_bus.published.clear()
    response = await call(hass, "export_broker_bundle", {})
    assert response["new_broker_key"] is False
    assert response["next_fingerprint_sent_to"] == []
    broker = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert broker is not None and "new.lan" in broker_names(broker)
    assert tasmota_fingerprint(broker) == pinned
    assert not [m for m in mqtt_bus.published if "MqttFingerprint" in m[0]]

    response = await call(hass, "export_broker_bundle", {"rotate_key": True})
    assert response["new_broker_key"] is True
    rotated = await hass.async_add_executor_job(installed.store.broker_certificate)
    assert rotated is not None
    fresh = tasmota_fingerprint(rotated)
    assert fresh != pinned and response["next_fingerprint_sent_to"] == [MAC]
    assert (f"cmnd/{TOPIC}/MqttFingerprint2", fresh, False) in mqtt_bus.published
    options = entry.runtime_data.operations.enrolment_options()
    assert (options.fingerprint, options.next_fingerprint) == (fresh, pinned)


def broker_names(certificate: Any) -> list[str]:
    from cryptography import x509

    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.DNSName))


def easyrsa_with_ec_broker(base: Path, passphrase: str) -> Path:
    """An Easy-RSA pki/ whose server certificate has an EC key, as users make it."""
    easyrsa = shutil.which("easyrsa") or "/usr/share/easy-rsa/easyrsa"
    env = {
        "PATH": "/usr/bin:/bin",
        "EASYRSA_BATCH": "1",
        "EASYRSA_PKI": str(base / "pki"),
        "EASYRSA_ALGO": "ec",
        "EASYRSA_CURVE": "prime256v1",
        "EASYRSA_PASSIN": f"pass:{passphrase}",
        "EASYRSA_PASSOUT": f"pass:{passphrase}",
    }
    steps = (
        ["init-pki"],
        ["--req-cn=Easy CA", "build-ca"],
        [f"--subject-alt-name=DNS:{BROKER_HOST}", "build-server-full", BROKER_HOST, "nopass"],
    )
    for args in steps:
        subprocess.run(
            [easyrsa, *args], cwd=base, env=env, check=True, capture_output=True, timeout=60
        )
    return base / "pki"


async def test_ec_broker_key_from_easyrsa(
    hass: HomeAssistant, mqtt_bus: MqttBus, tmp_path: Path
) -> None:
    """No fingerprint for an EC key: CA mode at creation, a repair and a refusal otherwise."""
    pki = await hass.async_add_executor_job(easyrsa_with_ec_broker, tmp_path, PASSPHRASE)
    with patch("custom_components.tasmota_tls.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "import_easyrsa"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"pki_path": str(pki), "custody": "attended", "passphrase": PASSPHRASE},
        )
        with (
            patch(
                "custom_components.tasmota_tls.config_flow.async_probe_mqtt_hosts",
                AsyncMock(return_value=set()),
            ),
            patch(  # mqtt.home.lan would go to a DNS server (test_broker_step checks for real)
                "custom_components.tasmota_tls.config_flow.async_check_broker",
                AsyncMock(return_value=BrokerCheck(("192.0.2.1",), True)),
            ),
        ):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {"broker_host": BROKER_HOST, "broker_port": 8883}
            )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["validation"] == "ca"  # not a mode that cannot work

    # An entry that already pins (made before EC keys were told apart) loads, and says why
    # it cannot enrol.
    created = hass.config_entries.async_entries(DOMAIN)[0]
    await hass.config_entries.async_remove(created.entry_id)
    store_dir = Path(hass.config.path(".storage", "tasmota_tls", "ecstore"))
    store = PkiStore(store_dir)
    await hass.async_add_executor_job(store.import_easyrsa, pki, PASSPHRASE)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Easy CA",
        unique_id="easy-ca",
        data={
            "store_id": "ecstore",
            "ca_source": "easyrsa",
            "custody": "attended",
            "broker_host": BROKER_HOST,
            "broker_port": 8883,
        },
        options={**DEFAULT_OPTIONS, "validation": "fingerprint"},
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    snapshot = entry.runtime_data.ca.snapshot
    assert snapshot.broker_not_after is not None
    assert (snapshot.broker_fingerprint, snapshot.previous_broker_fingerprint) == (None, None)
    found = issue(hass, "fingerprint_needs_rsa", entry.entry_id)
    assert found is not None and found.translation_placeholders == {"names": BROKER_HOST}
    assert issue(hass, "broker_certificate_missing", entry.entry_id) is None
    # Imported: the store has no broker key, so the user renews it (no automatic renewal).
    assert not snapshot.broker_key_in_store
    device_id = await discovered(hass, mqtt_bus)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "enrol", {"device_id": device_id, "passphrase": PASSPHRASE})
    assert err.value.translation_key == "fingerprint_needs_rsa"
    status = state_of(hass, "sensor", f"{entry.entry_id}_{MAC}_tls_status")
    assert status.attributes["fingerprint"] is None
