"""scripts/develop's broker installs the integration's bundle, whatever its layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from custom_components.tasmota_tls.broker.mosquitto import write_bundle
from custom_components.tasmota_tls.pki import PkiStore
from devtools.broker import DevelopmentBroker, install_bundle
from tests.helpers.mosquitto import free_port

PASSPHRASE = "development passphrase"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("pki") / "store")
    store.init_ca(PASSPHRASE, "Test CA")
    store.issue_broker(PASSPHRASE, "127.0.0.1")
    return store


def bundle_dir(config: Path) -> Path:
    return config / "tasmota_tls" / "01ENTRY" / "broker"


@pytest.mark.parametrize("layout", ["folder", "server", "ha-addon"])
def test_paths_point_into_the_bundle_and_the_listener_stays_on_loopback(
    store: PkiStore, tmp_path: Path, layout: str
) -> None:
    out = bundle_dir(tmp_path)
    write_bundle(store, PASSPHRASE, out, port=8883, layout=layout)  # type: ignore[arg-type]
    conf = next(out.rglob("*.conf")).parent
    installed = install_bundle(conf, tmp_path / "acl", ["homeassistant", "DVES_USER"])

    paths = re.findall(
        r"^(?:cafile|certfile|keyfile|crlfile|acl_file) (\S+)$", installed.conf, flags=re.MULTILINE
    )
    assert len(paths) == 5
    for path in paths:
        assert Path(path).is_file() or path == str(tmp_path / "acl")
        assert path.startswith(str(out)) or path == str(tmp_path / "acl")
    assert re.search(r"^listener 8883 127\.0\.0\.1$", installed.conf, flags=re.MULTILINE)
    # The bundle grants homeassistant already; only the device login is added.
    assert installed.acl.count("user homeassistant") == 1
    assert "user DVES_USER\ntopic readwrite #" in installed.acl


async def test_broker_opens_the_tls_listener_when_the_bundle_appears(
    store: PkiStore, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    bootstrap, tls = free_port(), free_port()
    broker = DevelopmentBroker(
        tmp_path / "broker",
        config,
        tmp_path / "mosquitto.log",
        bootstrap_port=bootstrap,
        ha_password="secret",
    )
    broker.write_base_config()
    await broker.start()
    try:
        assert broker.tls_port is None
        assert await broker.sync() is None  # nothing to follow yet

        write_bundle(store, PASSPHRASE, bundle_dir(config), port=tls)
        assert await broker.sync() == "restarted"  # a new listener needs a restart
        assert broker.tls_port == tls
        log = broker.log_path.read_text()
        assert f"Opening ipv4 listen socket on port {tls}." in log

        assert await broker.sync() is None
        store.generate_crl(PASSPHRASE, days=7)  # a fresh CRL, same listener
        write_bundle(store, PASSPHRASE, bundle_dir(config), port=tls)
        assert await broker.sync() == "reloaded"
    finally:
        await broker.stop()
    assert not broker.child.running
