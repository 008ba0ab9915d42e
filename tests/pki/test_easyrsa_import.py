"""Adopting a real Easy-RSA pki/ made by Debian's easy-rsa in the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509

from custom_components.tasmota_tls.pki import PkiError, PkiStore, WrongPassphraseError
from custom_components.tasmota_tls.pki.easyrsa import parse_index_line

from .support import CA_PASS, EASYRSA, easyrsa, openssl_verify, snapshot


@pytest.fixture(scope="module")
def easyrsa_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert EASYRSA.exists(), "Debian's easy-rsa is installed by scripts/setup"
    pki = tmp_path_factory.mktemp("easyrsa") / "pki"
    easyrsa(pki, "init-pki")
    easyrsa(pki, f"--passin=pass:{CA_PASS}", f"--passout=pass:{CA_PASS}", "build-ca")
    for name in ("dev1", "dev2", "server"):
        easyrsa(pki, f"--req-cn={name}", "gen-req", name, "nopass")
        kind = "server" if name == "server" else "client"
        easyrsa(pki, f"--passin=pass:{CA_PASS}", "sign-req", kind, name)
    easyrsa(pki, f"--passin=pass:{CA_PASS}", "revoke", "dev2", "keyCompromise")
    return pki


def test_import_keeps_every_row_and_serial(easyrsa_pki: Path, tmp_path: Path) -> None:
    store = PkiStore(tmp_path / "ours")
    rows = store.import_easyrsa(easyrsa_pki, CA_PASS)
    index_lines = (easyrsa_pki / "index.txt").read_text().splitlines()
    assert rows == len(index_lines) == 3
    theirs = {parse_index_line(line).serial: parse_index_line(line) for line in index_lines}
    ours = {e.serial_int: e for e in store.entries() if e.kind != "ca"}
    assert set(ours) == set(theirs)
    by_cn = {e.cn: e for e in ours.values()}
    assert by_cn["dev2"].status == "revoked" and by_cn["dev2"].reason == "key_compromise"
    assert by_cn["dev1"].status == "valid" and by_cn["dev1"].kind == "device"
    assert by_cn["server"].kind == "broker"
    # Easy-RSA's issued/*.crt start with a text dump; the certificate was still read.
    assert (easyrsa_pki / "issued" / "dev1.crt").read_text().startswith("Certificate:")
    assert by_cn["dev1"].not_before is not None


def test_device_issued_after_import_verifies_and_gets_a_new_serial(
    easyrsa_pki: Path, tmp_path: Path
) -> None:
    store = PkiStore(tmp_path / "ours")
    store.import_easyrsa(easyrsa_pki, CA_PASS)
    used_before = {e.serial_int for e in store.entries()}
    next_serial = int((easyrsa_pki / "serial").read_text().strip(), 16)
    credential = store.issue_device(CA_PASS, "tasmota_ABCDEF")
    ca = x509.load_pem_x509_certificate((easyrsa_pki / "ca.crt").read_bytes())
    openssl_verify(tmp_path, ca, credential.certificate, "sslclient")
    serial = credential.certificate.serial_number
    assert serial not in used_before and serial != next_serial
    assert next_serial in store._index().used_serials


def test_import_with_a_wrong_passphrase_writes_nothing(easyrsa_pki: Path, tmp_path: Path) -> None:
    target = tmp_path / "ours"
    with pytest.raises(WrongPassphraseError):
        PkiStore(target).import_easyrsa(easyrsa_pki, "wrong")
    assert not target.exists() or snapshot(target) == {}


def test_damaged_index_line_is_named(easyrsa_pki: Path, tmp_path: Path) -> None:
    broken = tmp_path / "pki"
    shutil.copytree(easyrsa_pki, broken)
    with (broken / "index.txt").open("a") as handle:
        handle.write("V\tnot-a-date\t\tZZ\tunknown\t/CN=x\n")
    with pytest.raises(PkiError, match=r"index\.txt line 4") as caught:
        PkiStore(tmp_path / "ours").import_easyrsa(broken, CA_PASS)
    assert caught.value.code == "import_failed"
    assert not (tmp_path / "ours" / "index.json").exists()


def test_index_that_is_not_utf8_gets_a_specific_error(easyrsa_pki: Path, tmp_path: Path) -> None:
    broken = tmp_path / "pki"
    shutil.copytree(easyrsa_pki, broken)
    with (broken / "index.txt").open("ab") as handle:
        handle.write(b"V\t301231235959Z\t\t0A\tunknown\t/CN=K\xfcche\n")  # Latin-1, not UTF-8
    with pytest.raises(PkiError, match=r"not UTF-8 text: byte 0xFC on line 4") as caught:
        PkiStore(tmp_path / "ours").import_easyrsa(broken, CA_PASS)
    assert caught.value.code == "index_not_utf8"
    assert not (tmp_path / "ours" / "index.json").exists()

    from tests.cli.support import run

    cli = run(tmp_path / "cli", "import-easyrsa", str(broken), passphrase=CA_PASS, check=False)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "is not UTF-8 text" in cli.stderr and "nothing was imported" in cli.stderr
