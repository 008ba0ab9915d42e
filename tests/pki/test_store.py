"""The store: persistent, crash-safe, specific about bad input, and never reusing a serial."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import (
    DeviceRequest,
    InvalidNameError,
    PkiError,
    PkiStore,
    SizeLimitError,
    StoreCorruptError,
    WrongPassphraseError,
    broker_keys,
    revocation,
    storefs,
)
from custom_components.tasmota_tls.pki.fingerprint import tasmota_fingerprint
from custom_components.tasmota_tls.pki.keys import encrypt_key, generate_key

from .support import PASSPHRASE, snapshot


def test_index_survives_a_new_instance(store: PkiStore) -> None:
    device = store.issue_device(PASSPHRASE, "tasmota_000001", topic="kitchen")
    reopened = PkiStore(store.directory)
    entry = reopened.find("tasmota_000001")
    assert entry == device.entry
    assert entry.topic == "kitchen" and entry.kind == "device" and entry.status == "valid"
    assert reopened.find(device.entry.serial) == entry
    assert reopened.certificate(entry) == device.certificate


def test_serials_are_random_and_never_reused(store: PkiStore) -> None:
    serials = [store.issue_device(PASSPHRASE, f"d{i}").entry.serial for i in range(40)]
    assert len(set(serials)) == 40
    assert all(len(s) > 24 for s in serials)  # ~128-bit, not a counter


def test_batch_issuance_is_all_or_nothing(store: PkiStore) -> None:
    before = snapshot(store.directory)
    requests = [DeviceRequest("ok_1"), DeviceRequest("ok_2"), DeviceRequest("bad/name")]
    with pytest.raises(InvalidNameError):
        store.issue_devices(PASSPHRASE, requests)
    assert snapshot(store.directory) == before
    issued = store.issue_devices(PASSPHRASE, requests[:2])
    assert [c.entry.cn for c in issued] == ["ok_1", "ok_2"]
    assert len({c.entry.serial for c in issued}) == 2
    assert {e.cn for e in PkiStore(store.directory).entries()} >= {"ok_1", "ok_2"}


def test_index_written_by_another_process_is_reread(store: PkiStore) -> None:
    other = PkiStore(store.directory)
    other.issue_device(PASSPHRASE, "from_elsewhere")
    assert store.find("from_elsewhere").cn == "from_elsewhere"


def test_ca_key_is_encrypted_and_private(store: PkiStore) -> None:
    pem = (store.directory / "ca.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED " + b"PRIVATE KEY-----")  # split: no key here
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    assert stat.S_IMODE((store.directory / "ca.key").stat().st_mode) == 0o600
    store.issue_broker(PASSPHRASE, "127.0.0.1")
    assert stat.S_IMODE((store.directory / "broker.pair").stat().st_mode) == 0o600


def test_wrong_passphrase_is_clear_and_changes_nothing(store: PkiStore) -> None:
    before = snapshot(store.directory)
    fresh = PkiStore(store.directory)
    with pytest.raises(WrongPassphraseError, match="passphrase does not unlock the CA key"):
        fresh.issue_device("not the passphrase", "tasmota_1")
    # A cached unlock must not let a wrong passphrase through either.
    with pytest.raises(WrongPassphraseError):
        store.issue_device("not the passphrase", "tasmota_1")
    assert snapshot(store.directory) == before


def test_corrupted_index_is_reported_and_left_alone(store: PkiStore) -> None:
    index = store.directory / "index.json"
    index.write_text('{"version": 1, "entries": [{"serial": ')
    before = snapshot(store.directory)
    with pytest.raises(StoreCorruptError, match=r"index\.json is unreadable"):
        store.issue_device(PASSPHRASE, "tasmota_1")
    with pytest.raises(StoreCorruptError):
        store.entries()
    assert snapshot(store.directory) == before


@pytest.mark.parametrize("name", ["a/b", "..", "dev..1", "has space", "x" * 65, "", "+", "#"])
def test_bad_names_are_refused(store: PkiStore, name: str) -> None:
    before = snapshot(store.directory)
    with pytest.raises(InvalidNameError) as caught:
        store.issue_device(PASSPHRASE, name)
    assert caught.value.code == "invalid_name"
    assert snapshot(store.directory) == before


@pytest.mark.parametrize("host", ["bad host", "-x.lan", "a..b", "300.1.1.1", "x" * 64 + ".lan"])
def test_bad_hosts_are_refused(store: PkiStore, host: str) -> None:
    before = snapshot(store.directory)
    with pytest.raises(InvalidNameError) as caught:
        store.issue_broker(PASSPHRASE, host)
    assert caught.value.code == "invalid_host"
    assert snapshot(store.directory) == before


def test_oversize_certificate_is_refused_before_recording(store: PkiStore) -> None:
    before = snapshot(store.directory)
    org = {
        "country": "GB",
        "province": "Greater London Metropolitan Area",
        "city": "Camden",
        "org": "A Rather Long Organisation Name Limited",
        "ou": "Home Automation and MQTT Dept",
        "email": "home-automation-administrators@example-organisation.co.uk",
    }
    with pytest.raises(SizeLimitError) as caught:
        store.issue_device(PASSPHRASE, "tasmota_" + "x" * 50, dn_mode="org", org=org)
    assert caught.value.code in ("command_too_long", "certificate_too_large", "packet_too_large")
    assert "CN-only" in str(caught.value)
    assert snapshot(store.directory) == before


def test_failed_write_keeps_the_old_index(store: PkiStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.issue_device(PASSPHRASE, "kept")
    index_before = (store.directory / "index.json").read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PkiError, match="No space left on device") as caught:
        store.issue_device(PASSPHRASE, "lost")
    assert caught.value.code == "write_failed"
    monkeypatch.undo()
    assert (store.directory / "index.json").read_bytes() == index_before
    assert not list(store.directory.rglob("*.tmp"))
    assert [e.cn for e in PkiStore(store.directory).entries()][-1] == "kept"


def test_revoke_writes_a_crl_with_reason_and_next_update(store: PkiStore) -> None:
    device = store.issue_device(PASSPHRASE, "tasmota_2")
    revoked = store.revoke(PASSPHRASE, "tasmota_2", "keyCompromise")
    assert revoked.status == "revoked" and revoked.reason == "key_compromise"
    crl = store.crl()
    assert crl is not None and crl.next_update_utc is not None
    assert crl.is_signature_valid(store.ca_certificate().public_key())  # type: ignore[arg-type]
    listed = crl.get_revoked_certificate_by_serial_number(device.certificate.serial_number)
    assert listed is not None
    reason = listed.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    with pytest.raises(PkiError, match="already revoked"):
        store.revoke(PASSPHRASE, device.entry.serial)
    with pytest.raises(PkiError, match="Unknown revocation reason"):
        store.revoke(PASSPHRASE, store.issue_device(PASSPHRASE, "x").entry.serial, "because")


def test_crl_number_grows(store: PkiStore) -> None:
    first = store.generate_crl(PASSPHRASE)
    second = store.generate_crl(PASSPHRASE, days=7)
    number = x509.CRLNumber
    assert second.extensions.get_extension_for_class(number).value.crl_number == (
        first.extensions.get_extension_for_class(number).value.crl_number + 1
    )


def test_renew_gives_a_new_key_and_keeps_the_old_valid(store: PkiStore) -> None:
    old = store.issue_device(PASSPHRASE, "tasmota_3", topic="porch")
    new = store.renew_device(PASSPHRASE, "tasmota_3")
    assert new.entry.serial != old.entry.serial
    assert new.payloads is not None and old.payloads is not None
    assert new.payloads.tlskey1 != old.payloads.tlskey1
    assert new.entry.topic == "porch"
    assert store.find(old.entry.serial).status == "valid"


def test_second_init_is_refused(store: PkiStore) -> None:
    before = snapshot(store.directory)
    with pytest.raises(PkiError) as caught:
        store.init_ca(PASSPHRASE, "Other CA")
    assert caught.value.code == "store_exists"
    assert snapshot(store.directory) == before


def test_missing_store_is_explained(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="No CA in") as caught:
        PkiStore(tmp_path / "nothing").issue_device(PASSPHRASE, "x")
    assert caught.value.code == "no_store"


def test_import_pem_encrypts_an_unencrypted_key(store: PkiStore, tmp_path: Path) -> None:
    cert_pem = (store.directory / "ca.crt").read_bytes()
    key = store._ca_key(PASSPHRASE)
    plain = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    copy = PkiStore(tmp_path / "copy")
    copy.import_pem(cert_pem, plain, "new passphrase")
    assert (copy.directory / "ca.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED")
    assert copy.issue_device("new passphrase", "d1").entry.cn == "d1"
    with pytest.raises(PkiError, match="not a CA certificate"):
        PkiStore(tmp_path / "bad").import_pem(
            copy.issue_device("new passphrase", "d2").cert_pem, plain, "x"
        )


def test_private_material_stays_out_of_reprs(store: PkiStore) -> None:
    credential = store.issue_device(PASSPHRASE, "tasmota_4")
    assert credential.payloads is not None
    text = repr(credential) + str(credential) + repr(credential.payloads)
    assert credential.payloads.tlskey1 not in text
    assert PASSPHRASE not in text


def test_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = PkiStore(tmp_path / "open" / "pki")
        store.init_ca(PASSPHRASE, "Umask CA")
        store.issue_broker(PASSPHRASE, "mqtt.lan")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in store.directory.iterdir()}
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert modes[".lock"] == 0o600 and modes["ca.key"] == 0o600 and modes["broker.pair"] == 0o600
    assert not any(mode & 0o022 for mode in modes.values()), modes


@pytest.mark.parametrize("target", ["", "ca.crt", "index.json"])
def test_a_store_others_can_write_is_refused(store: PkiStore, target: str) -> None:
    path = store.directory / target if target else store.directory
    path.chmod(path.stat().st_mode | 0o002)
    with pytest.raises(PkiError, match="writable by other users") as caught:
        PkiStore(store.directory).entries()
    assert caught.value.code == "store_insecure"
    with pytest.raises(PkiError, match="writable by other users"):
        store.issue_device(PASSPHRASE, "never")
    path.chmod(path.stat().st_mode & ~0o022)
    assert "never" not in [e.cn for e in PkiStore(store.directory).entries()]


def test_a_replaced_ca_certificate_is_refused(store: PkiStore, tmp_path: Path) -> None:
    other = PkiStore(tmp_path / "other")
    other.init_ca(PASSPHRASE, "Attacker CA")
    shutil.copy(other.directory / "ca.crt", store.directory / "ca.crt")
    with pytest.raises(PkiError, match="not the CA this store issued from") as caught:
        PkiStore(store.directory).ca_certificate()
    assert caught.value.code == "store_corrupt"


def test_a_ca_key_that_does_not_match_ca_crt_is_refused(store: PkiStore, tmp_path: Path) -> None:
    other = PkiStore(tmp_path / "other")
    other.init_ca(PASSPHRASE, "Other CA")
    shutil.copy(other.directory / "ca.key", store.directory / "ca.key")
    with pytest.raises(PkiError, match="CA key does not belong to its certificate") as caught:
        PkiStore(store.directory).issue_device(PASSPHRASE, "never")
    assert caught.value.code == "store_corrupt"


def test_an_older_store_with_two_broker_files_is_read_checked_and_mended(
    store: PkiStore,
) -> None:
    first = store.issue_broker(PASSPHRASE, "mqtt.lan")
    pair = store.directory / "broker.pair"
    # An older store: broker.crt + broker.key, and a crash left the key of another issue.
    (store.directory / "broker.crt").write_bytes(first.cert_pem)
    other_key = encrypt_key(generate_key("rsa"), PASSPHRASE)
    (store.directory / "broker.key").write_bytes(other_key)
    (store.directory / "broker.key").chmod(0o600)
    pair.unlink()
    fresh = PkiStore(store.directory)
    assert fresh.broker_certificate() == first.certificate
    with pytest.raises(PkiError, match="broker key does not belong") as caught:
        fresh.broker_key(PASSPHRASE)
    assert caught.value.code == "store_corrupt"
    mended = fresh.issue_broker(PASSPHRASE, "mqtt.lan", keep_key=True)  # `broker HOST`
    assert storefs.public_der(fresh.broker_key(PASSPHRASE)) == storefs.public_der(
        mended.certificate
    )
    assert not (store.directory / "broker.key").exists() and pair.is_file()


def test_broker_renewal_keeps_the_key_and_rotation_stages_it(store: PkiStore) -> None:
    first = store.issue_broker(PASSPHRASE, "mqtt.lan", extra_names=["192.168.1.5"])
    pin = tasmota_fingerprint(first.certificate)
    renewed = store.renew_broker(PASSPHRASE, days=100)
    assert tasmota_fingerprint(renewed.certificate) == pin
    assert renewed.entry.serial != first.entry.serial
    san = renewed.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "192.168.1.5" in san.value.get_values_for_type(x509.DNSName)
    third = store.issue_broker(PASSPHRASE, "mqtt.lan", keep_key=True)
    assert storefs.public_der(third.certificate) == storefs.public_der(first.certificate)

    staged, made = broker_keys.stage(store, PASSPHRASE)
    again, made_again = broker_keys.stage(PkiStore(store.directory), PASSPHRASE)
    assert made and not made_again  # repeating `stage` gives devices the same fingerprint
    assert storefs.public_der(again) == storefs.public_der(staged)
    current = store.broker_certificate()
    assert current is not None and tasmota_fingerprint(current) == pin  # not switched yet
    switched = broker_keys.switch(store, PASSPHRASE, 825)
    assert tasmota_fingerprint(switched.certificate) == tasmota_fingerprint(staged.public_key())
    assert broker_keys.staged_key(store, PASSPHRASE) is None
    retired = broker_keys.retire(store, PASSPHRASE)
    old = {first.entry.serial, renewed.entry.serial, third.entry.serial}
    assert {e.serial for e in retired} == old
    assert {e.reason for e in retired} == {"superseded"}
    assert store.find(switched.entry.serial).status == "valid"


def test_a_revocation_whose_crl_write_fails_is_kept_and_numbered_higher(
    store: PkiStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = store.issue_device(PASSPHRASE, "tasmota_9")
    store.generate_crl(PASSPHRASE)  # CRL 1
    real = revocation.atomic_write

    def no_space(path: Path, data: bytes, mode: int = 0o644) -> None:
        if path.name == "crl.pem":
            raise PkiError("Could not write crl.pem: No space left on device.", code="write_failed")
        real(path, data, mode)

    monkeypatch.setattr(revocation, "atomic_write", no_space)
    with pytest.raises(PkiError, match="run `crl` again"):
        store.revoke(PASSPHRASE, "tasmota_9")
    monkeypatch.undo()
    fresh = PkiStore(store.directory)
    assert fresh.find(device.entry.serial).status == "revoked"
    crl = fresh.generate_crl(PASSPHRASE)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    assert [entry.serial_number for entry in crl] == [device.entry.serial_int]
