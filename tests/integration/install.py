"""Setting up the integration in a test: discovery configs, a CA, a loaded entry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tasmota_tls.pki import PkiStore, tasmota_fingerprint
from tests.helpers.constants import MAC

# The topic of the device in discovery_config (its MAC's last six hex digits).
TOPIC = "plug_abcdef"


def discovery_config(
    mac: str = MAC, ip: str = "127.0.0.2", topic: str = TOPIC, **extra: Any
) -> dict[str, Any]:
    """A discovery config shaped like the one Tasmota 14 publishes."""
    config: dict[str, Any] = {
        "ip": ip,
        "dn": "Kitchen plug",
        "fn": ["Kitchen plug", None, None, None, None, None, None, None],
        "hn": f"{topic}-1234",
        "mac": mac,
        "md": "Sonoff Basic",
        "ty": 0,
        "if": 0,
        "ofln": "Offline",
        "onln": "Online",
        "state": ["OFF", "ON", "TOGGLE", "HOLD"],
        "sw": "14.5.0",
        "t": topic,
        "ft": "%prefix%/%topic%/",
        "tp": ["cmnd", "stat", "tele"],
        "rl": [1, 0, 0, 0, 0, 0, 0, 0],
        "swc": [-1] * 8,
        "swn": [None] * 8,
        "btn": [0, 0, 0, 0, 0, 0, 0, 0],
        "so": {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0},
        "lk": 0,
        "lt_st": 0,
        "bat": 0,
        "dslp": 0,
        "sho": [],
        "sht": [],
        "ver": 1,
    }
    config.update(extra)
    return config


def discovery_payload(**kwargs: Any) -> str:
    """The JSON text of :func:`discovery_config`."""
    return json.dumps(discovery_config(**kwargs))


@dataclass(frozen=True)
class CaFiles:
    """A CA made by the test: PEM certificate, encrypted PEM key and its passphrase."""

    cert_pem: str
    key_pem: str
    passphrase: str


def make_ca(cn: str = "Test Home CA", passphrase: str = "correct horse") -> CaFiles:
    """An EC CA certificate and its encrypted key, generated now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    return CaFiles(
        cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode(), passphrase
    )


PASSPHRASE = "unattended passphrase"
BROKER_HOST = "mqtt.home.lan"


def issue_short_lived(name: str = TOPIC, days: int = 10) -> Callable[[PkiStore], None]:
    """A ``prepare`` for install(): a device certificate that expires in ``days``."""

    def prepare(store: PkiStore) -> None:
        store.issue_device(PASSPHRASE, name, topic=name, days=days, mac=MAC)

    return prepare


@dataclass
class Installed:
    """A loaded entry on a CA created for the test."""

    entry: MockConfigEntry
    store: PkiStore
    passphrase: str

    @property
    def broker_fingerprint(self) -> str:
        certificate = self.store.broker_certificate()
        assert certificate is not None
        return tasmota_fingerprint(certificate)


def _make_store(
    directory: Path, passphrase: str, broker_host: str | None, ca_days: int
) -> PkiStore:
    store = PkiStore(directory)
    store.init_ca(passphrase, "Test CA", algo="ec", days=ca_days)
    if broker_host is not None:
        store.issue_broker(passphrase, broker_host)
    return store


async def install(
    hass: HomeAssistant,
    *,
    custody: str = "unattended",
    options: dict[str, Any] | None = None,
    broker_host: str | None = BROKER_HOST,
    ca_days: int = 3650,
    prepare: Callable[[PkiStore], object] | None = None,
) -> Installed:
    """Create a CA store (EC, with a broker certificate) and load an entry on it."""
    from custom_components.tasmota_tls.config_flow import DEFAULT_OPTIONS

    store_id = "teststore"
    directory = Path(hass.config.path(".storage", "tasmota_tls", store_id))

    def make() -> PkiStore:
        store = _make_store(directory, PASSPHRASE, broker_host, ca_days)
        if prepare is not None:
            prepare(store)
        return store

    store = await hass.async_add_executor_job(make)
    data: dict[str, Any] = {
        "store_id": store_id,
        "ca_source": "create",
        "custody": custody,
        "broker_host": BROKER_HOST,
        "broker_port": 8883,
    }
    if custody == "unattended":
        data["passphrase"] = PASSPHRASE
    entry = MockConfigEntry(
        domain="tasmota_tls",
        title="Test CA",
        unique_id="test-ca",
        data=data,
        options={**DEFAULT_OPTIONS, **(options or {})},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return Installed(entry, store, PASSPHRASE)
