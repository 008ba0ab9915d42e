"""Hostile input to the PKI side: Easy-RSA's index.txt and the CLI's arguments.

Rejected input must raise the documented error (never another exception) and change
nothing on disk.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.tasmota_tls.pki import PkiError, PkiStore
from custom_components.tasmota_tls.pki.easyrsa import parse_index_line
from tasmota_tls_tool.cli import main as cli_main

from ..pki.support import PASSPHRASE, snapshot
from .settings import fuzz

TIMES = st.sampled_from(["290228173245Z", "20500101000000Z", "261126173246Z", "99", "", "Z"])
SERIALS = st.one_of(st.sampled_from(["13412C452F9AC3DF", "0", "-1", "ZZ", ""]), st.text(max_size=8))
SUBJECTS = st.one_of(
    st.sampled_from(["/CN=dev1", "/C=UK/O=x/CN=dev2/emailAddress=a@b", "/O=nocn", ""]),
    st.text(max_size=30).map(lambda t: "/CN=" + t),
)
REVOCATIONS = st.one_of(
    st.just(""), st.tuples(TIMES, st.sampled_from(["", ",keyCompromise", ",bogus"])).map("".join)
)
STRUCTURED_LINES = st.tuples(
    st.sampled_from(["V", "R", "E", "X", ""]), TIMES, REVOCATIONS, SERIALS,
    st.sampled_from(["unknown", ""]), SUBJECTS,
).map("\t".join)  # fmt: skip
LINES = st.one_of(STRUCTURED_LINES, st.text(max_size=80))


@fuzz
@given(line=LINES)
def test_index_line_parses_or_says_why(line: str) -> None:
    try:
        row = parse_index_line(line)
    except ValueError as err:
        assert str(err)
    else:
        assert row.serial > 0 and row.status in ("V", "R", "E")
        assert (row.revoked_at is not None) == (row.status == "R")


@pytest.fixture(scope="module")
def easyrsa_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pki/ with Easy-RSA's file names, made by our own store (fast)."""
    source = PkiStore(tmp_path_factory.mktemp("source") / "store")
    source.init_ca(PASSPHRASE, "Fuzz CA", algo="ec")  # loads faster than RSA: more cases per second
    pki = tmp_path_factory.mktemp("pki")
    (pki / "private").mkdir()
    shutil.copy(source.directory / "ca.crt", pki / "ca.crt")
    shutil.copy(source.directory / "ca.key", pki / "private" / "ca.key")
    return pki


@fuzz
@given(lines=st.lists(LINES, max_size=5))
def test_import_of_a_hostile_index_fails_cleanly(
    easyrsa_like: Path, tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    (easyrsa_like / "index.txt").write_text("\n".join(line.replace("\n", " ") for line in lines))
    target = tmp_path_factory.mktemp("target") / "store"
    try:
        rows = PkiStore(target).import_easyrsa(easyrsa_like, PASSPHRASE)
    except PkiError as err:
        assert err.code == "import_failed"
        assert not target.exists()
    else:
        assert rows == len([line for line in lines if line.strip()])
        assert PkiStore(target).entries()[0].kind == "ca"


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> PkiStore:
    store = PkiStore(tmp_path_factory.mktemp("cli") / "pki")
    store.init_ca(PASSPHRASE, "CLI Fuzz CA")
    store.issue_broker(PASSPHRASE, "127.0.0.1")
    store.issue_device(PASSPHRASE, "known_device")
    return store


WORDS = st.sampled_from([
    "init", "import-easyrsa", "broker", "device", "renew", "trust-anchor", "fingerprint", "list",
    "revoke", "crl", "ha-client", "status", "--json", "--cn", "--algo", "rsa", "ec", "dsa",
    "--dn-mode", "org", "--san", "--topic", "--days", "-5", "0", "99999999", "--reason",
    "keyCompromise", "known_device", "127.0.0.1", "..", "a/b", "+", "#", "--out", "-h",
])  # fmt: skip
ARGVS = st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=6)


@fuzz
@given(argv=ARGVS)
def test_cli_arguments_never_crash(cli_store: PkiStore, tmp_path: Path, argv: list[str]) -> None:
    # Output paths only inside the test's folder, and never `reload` (it signals a process).
    argv = [word for word in argv if word not in ("reload", "mosquitto")]
    if "--out" in argv:
        position = argv.index("--out")
        argv.insert(position + 1, str(tmp_path / "out"))
    before = snapshot(cli_store.directory)
    os.environ["TASMOTA_TLS_PASSPHRASE"] = PASSPHRASE
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = cli_main(["--pki", str(cli_store.directory), *argv])
    except SystemExit as leave:  # argparse refuses bad usage with exit 2, help exits 0
        code = leave.code if isinstance(leave.code, int) else 2
    finally:
        del os.environ["TASMOTA_TLS_PASSPHRASE"]
    assert code in (0, 2)
    if code != 0:
        assert snapshot(cli_store.directory) == before
    assert PASSPHRASE not in output.getvalue()
