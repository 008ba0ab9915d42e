"""The bundle on disk: layouts, directives, modes, and updates that touch only what changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.broker.acl import DeviceTopics, device_topics_from_discovery
from custom_components.tasmota_tls.broker.mosquitto import (
    FILE_ORDER,
    LAYOUT_PATHS,
    Layout,
    write_bundle,
)
from custom_components.tasmota_tls.pki import PkiStore, WrongPassphraseError
from custom_components.tasmota_tls.pki.errors import PkiError
from custom_components.tasmota_tls.pki.store import utcnow

from .support import PASSPHRASE, discovery, expired_crl_pem


def directives(text: str) -> list[tuple[str, str]]:
    """(option, value) of every active line of a mosquitto.conf text."""
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            pairs.append((key, value))
    return pairs


def file_states(out: Path) -> dict[str, tuple[int, int, bytes]]:
    """Inode, mode and content of every file: an unchanged file keeps its inode."""
    return {
        str(path.relative_to(out)): (
            path.stat().st_ino,
            path.stat().st_mode & 0o777,
            path.read_bytes(),
        )
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def plug(broker_store: PkiStore) -> DeviceTopics:
    broker_store.issue_device(PASSPHRASE, "plug")
    return device_topics_from_discovery(discovery("plug", "A0B1C2D3E4F5"))


def test_without_broker_certificate_it_says_what_to_run_and_writes_nothing(
    store: PkiStore, tmp_path: Path
) -> None:
    with pytest.raises(PkiError) as err:
        write_bundle(store, PASSPHRASE, tmp_path / "out")
    assert err.value.code == "no_broker_certificate"
    assert "broker HOST" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_wrong_passphrase_writes_nothing(broker_store: PkiStore, tmp_path: Path) -> None:
    with pytest.raises(WrongPassphraseError):
        write_bundle(broker_store, "wrong", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("layout", ["server", "ha-addon", "folder"])
def test_each_layout_puts_every_file_in_its_place_with_its_mode(
    broker_store: PkiStore,
    plug: DeviceTopics,
    tmp_path: Path,
    layout: Layout,
) -> None:
    out = tmp_path / layout
    result = write_bundle(broker_store, PASSPHRASE, out, layout=layout, devices=[plug])
    paths = LAYOUT_PATHS[layout]

    assert result.changed == FILE_ORDER
    for role in FILE_ORDER:
        path = out / getattr(paths, role)
        assert result.files[role] == path
        assert stat.S_IMODE(path.stat().st_mode) == (0o600 if role == "key" else 0o644), role
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        getattr(paths, role) for role in FILE_ORDER
    )
    conf = dict(directives(result.files["conf"].read_text()))
    for option, role in (
        ("cafile", "ca"),
        ("certfile", "cert"),
        ("keyfile", "key"),
        ("crlfile", "crl"),
        ("acl_file", "acl"),
    ):
        assert conf[option] == result.installed[role]
        assert conf[option] == str(Path(paths.install_root) / getattr(paths, role))


def test_installed_paths_per_layout(broker_store: PkiStore, tmp_path: Path) -> None:
    server = write_bundle(broker_store, PASSPHRASE, tmp_path / "s", layout="server")
    addon = write_bundle(broker_store, PASSPHRASE, tmp_path / "a", layout="ha-addon")
    folder = write_bundle(broker_store, PASSPHRASE, tmp_path / "f", layout="folder")
    moved = write_bundle(
        broker_store, PASSPHRASE, tmp_path / "m", layout="folder", install_root="/srv/mqtt"
    )

    assert server.installed["conf"] == "/etc/mosquitto/conf.d/tasmota-tls.conf"
    assert server.installed["key"].startswith("/etc/mosquitto/certs/")
    assert addon.installed["conf"] == "/share/mosquitto/tasmota-tls.conf"
    assert addon.installed["key"] == "/ssl/tasmota-tls/broker.key"
    assert not addon.installed["acl"].endswith(".conf")  # include_dir would parse it
    assert folder.installed["conf"] == "/etc/mosquitto/tasmota-tls/tasmota-tls.conf"
    assert moved.installed["crl"] == "/srv/mqtt/crl.pem"


def test_listener_directives(broker_store: PkiStore, tmp_path: Path) -> None:
    result = write_bundle(
        broker_store, PASSPHRASE, tmp_path / "out", port=8884, bind_address="127.0.0.1"
    )
    pairs = directives(result.files["conf"].read_text())
    options = dict(pairs)

    assert [v for k, v in pairs if k == "listener"] == ["8884 127.0.0.1"]  # the only active one
    assert options["require_certificate"] == "true"
    assert options["use_identity_as_username"] == "true"
    assert options["allow_anonymous"] == "false"
    assert options["tls_version"] == "tlsv1.2"
    assert "ECDHE-RSA-AES128-GCM-SHA256" in options["ciphers"].split(":")
    assert options["protocol"] == "mqtt"


def test_bootstrap_listener_is_commented_plaintext_and_loopback_only(
    broker_store: PkiStore, tmp_path: Path
) -> None:
    result = write_bundle(broker_store, PASSPHRASE, tmp_path / "out", bootstrap_port=1999)
    text = result.files["conf"].read_text()

    assert "#listener 1999 127.0.0.1" in text.splitlines()
    assert "1999" not in "".join(f"{k} {v}" for k, v in directives(text))
    assert "PLAINTEXT" in text


def test_bundle_key_is_the_broker_key_unencrypted(broker_store: PkiStore, tmp_path: Path) -> None:
    result = write_bundle(broker_store, PASSPHRASE, tmp_path / "out")
    key = serialization.load_pem_private_key(result.files["key"].read_bytes(), None)
    cert = x509.load_pem_x509_certificate(result.files["cert"].read_bytes())

    assert key.public_key() == cert.public_key()
    assert cert == broker_store.broker_certificate()
    assert (
        x509.load_pem_x509_certificate(result.files["ca"].read_bytes())
        == broker_store.ca_certificate()
    )


def test_regenerating_unchanged_touches_nothing(
    broker_store: PkiStore, plug: DeviceTopics, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write_bundle(broker_store, PASSPHRASE, out, devices=[plug])
    before = file_states(out)

    again = write_bundle(broker_store, PASSPHRASE, out, devices=[plug])

    assert again.changed == ()
    assert not again.reload_needed
    assert file_states(out) == before


def test_revoking_changes_only_crl_acl_and_readme(
    broker_store: PkiStore, plug: DeviceTopics, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = write_bundle(broker_store, PASSPHRASE, out, devices=[plug])
    before = file_states(out)
    revoked = broker_store.revoke(PASSPHRASE, "plug")

    after = write_bundle(broker_store, PASSPHRASE, out, devices=[plug])

    assert set(after.changed) == {"crl", "acl", "readme"}
    assert after.reload_needed
    assert not after.restart_needed
    assert after.skipped_devices == ("plug",)
    assert "user plug" not in after.files["acl"].read_text()
    now = file_states(out)
    for role in ("ca", "cert", "key", "conf"):
        name = first.files[role].relative_to(out).as_posix()
        assert now[name] == before[name], role
    crl = x509.load_pem_x509_crl(after.files["crl"].read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_int) is not None


def test_port_change_needs_a_restart(broker_store: PkiStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_bundle(broker_store, PASSPHRASE, out)
    result = write_bundle(broker_store, PASSPHRASE, out, port=9993)

    assert result.changed == ("conf", "readme")
    assert result.restart_needed


def test_a_loosened_key_mode_is_put_back(broker_store: PkiStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_bundle(broker_store, PASSPHRASE, out)
    first.files["key"].chmod(0o644)

    result = write_bundle(broker_store, PASSPHRASE, out)

    assert result.changed == ("key",)
    assert stat.S_IMODE(first.files["key"].stat().st_mode) == 0o600


def test_missing_or_stale_crl_is_refreshed_in_the_store(
    broker_store: PkiStore, tmp_path: Path
) -> None:
    assert broker_store.crl() is None
    first = write_bundle(broker_store, PASSPHRASE, tmp_path / "a")
    assert first.crl_refreshed
    assert first.crl.state == "fresh"
    assert broker_store.crl() is not None

    (broker_store.directory / "crl.pem").write_bytes(expired_crl_pem(broker_store))
    second = write_bundle(broker_store, PASSPHRASE, tmp_path / "a")
    assert second.crl_refreshed
    assert second.changed[0] == "crl"
    bundled = x509.load_pem_x509_crl(second.files["crl"].read_bytes())
    assert bundled.next_update_utc is not None
    assert bundled.next_update_utc > utcnow()

    third = write_bundle(broker_store, PASSPHRASE, tmp_path / "a")
    assert not third.crl_refreshed


def test_devices_without_a_valid_certificate_are_left_out(
    broker_store: PkiStore, plug: DeviceTopics, tmp_path: Path
) -> None:
    stranger = device_topics_from_discovery(discovery("stranger", "A0B1C2D3E4F6"))
    result = write_bundle(broker_store, PASSPHRASE, tmp_path / "out", devices=[plug, stranger])
    acl = result.files["acl"].read_text()

    assert result.skipped_devices == ("stranger",)
    assert "user plug" in acl
    assert "user stranger" not in acl


def test_local_acl_is_kept_and_appended(broker_store: PkiStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_bundle(broker_store, PASSPHRASE, out)
    local = Path(str(first.files["acl"]) + ".local")
    local.write_text("user zigbee2mqtt\ntopic readwrite zigbee2mqtt/#\n")

    result = write_bundle(broker_store, PASSPHRASE, out)

    assert result.changed == ("acl",)
    assert (
        result.files["acl"]
        .read_text()
        .endswith("user zigbee2mqtt\ntopic readwrite zigbee2mqtt/#\n")
    )
    assert local.read_text() == "user zigbee2mqtt\ntopic readwrite zigbee2mqtt/#\n"


def test_ha_addon_keeps_the_addon_system_users(broker_store: PkiStore, tmp_path: Path) -> None:
    result = write_bundle(
        broker_store, PASSPHRASE, tmp_path / "out", layout="ha-addon", ha_identity="ha"
    )
    acl = result.files["acl"].read_text()

    for user in ("ha", "homeassistant", "addons"):
        assert f"user {user}\ntopic readwrite #\n" in acl


@pytest.mark.parametrize("layout", ["server", "ha-addon", "folder"])
def test_readme_names_owner_revocation_and_crl_upkeep(
    broker_store: PkiStore, tmp_path: Path, layout: Layout
) -> None:
    result = write_bundle(broker_store, PASSPHRASE, tmp_path / "out", layout=layout)
    readme = result.files["readme"].read_text()

    assert "nextUpdate" in readme
    assert "restart" in readme
    assert result.installed["key"] in readme
    assert f"{result.crl.refresh_by:%Y-%m-%d}" in readme
    if layout == "ha-addon":
        assert "use_identity_as_username" in readme
        assert "mosquitto-go-auth" in readme
    else:
        assert f"chown mosquitto:mosquitto {result.installed['key']}" in readme


def test_no_temporary_files_are_left(
    broker_store: PkiStore, plug: DeviceTopics, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write_bundle(broker_store, PASSPHRASE, out, devices=[plug])
    broker_store.revoke(PASSPHRASE, "plug")
    write_bundle(broker_store, PASSPHRASE, out, devices=[plug])

    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"layout": "docker"}, "invalid_layout"),
        ({"port": 0}, "invalid_port"),
        ({"port": 70000}, "invalid_port"),
    ],
)
def test_bad_arguments_are_refused(
    broker_store: PkiStore, tmp_path: Path, kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(PkiError) as err:
        write_bundle(broker_store, PASSPHRASE, tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert err.value.code == code
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_rewritten_file_keeps_its_owner(broker_store: PkiStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = write_bundle(broker_store, PASSPHRASE, out, layout="server")
    os.chown(first.files["key"], 4321, 4322)  # e.g. the mosquitto user, after installing in place
    broker_store.issue_broker(PASSPHRASE, "mqtt.example.test")  # a new broker key

    result = write_bundle(broker_store, PASSPHRASE, out, layout="server")

    assert "key" in result.changed
    info = result.files["key"].stat()
    assert (info.st_uid, info.st_gid) == (4321, 4322)
    assert stat.S_IMODE(info.st_mode) == 0o600
