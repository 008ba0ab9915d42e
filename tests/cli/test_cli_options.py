"""Every option of `tasmota-tls` explains itself, and `init` leaves a store `status` accepts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tasmota_tls_tool.cli import build_parser, main

from .support import PASSPHRASE, run


def _parsers(
    parser: argparse.ArgumentParser, path: str = "tasmota-tls"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    seen, silent = [], []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or not action.option_strings:
                continue
            seen.append(f"{path} {action.option_strings[-1]}")
            if not action.help or action.help == argparse.SUPPRESS:
                silent.append(seen[-1])
    assert silent == []
    # The walk reached the nested rotate-broker steps and the commands of cli_broker.
    assert "tasmota-tls rotate-broker switch --days" in seen
    assert "tasmota-tls status --json" in seen
    assert "tasmota-tls init --passphrase-file" in seen


def test_passphrase_file_is_in_each_commands_help(tmp_path: Path) -> None:
    for command in ("init", "device", "crl", "rotate-broker", "status"):
        text = run(tmp_path, command, "--help").stdout
        assert "--passphrase-file FILE" in text and "TASMOTA_TLS_PASSPHRASE" in text, text


def test_passphrase_file_before_or_after_the_command(tmp_path: Path) -> None:
    secret, wrong = tmp_path / "pass", tmp_path / "wrong"
    secret.write_text(PASSPHRASE + "\n")
    wrong.write_text("not it\n")
    pki = tmp_path / "pki"
    run(pki, "init", "--cn", "File CA", "--passphrase-file", str(secret), passphrase=None)
    run(pki, "--passphrase-file", str(secret), "device", "before", passphrase=None)
    run(pki, "device", "after", "--passphrase-file", str(secret), passphrase=None)
    # Given after the command it wins; not given there, the one before the command holds.
    refused = run(pki, "--passphrase-file", str(secret), "device", "x",
                  "--passphrase-file", str(wrong), passphrase=None, check=False)  # fmt: skip
    assert refused.returncode == 2 and "passphrase does not unlock" in refused.stderr
    names = [row["cn"] for row in json.loads(run(pki, "list", "--json").stdout)]
    assert names[-2:] == ["before", "after"]


def test_status_right_after_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = tmp_path / "pki"
    made = run(pki, "init", "--cn", "Fresh CA")
    assert "first CRL" in made.stdout
    crl = x509.load_pem_x509_crl((pki / "crl.pem").read_bytes())
    assert list(crl) == []  # nothing revoked yet
    assert main(["--pki", str(pki), "status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and "No broker certificate yet" in out
    assert main(["--pki", str(pki), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["crl_state"] == "fresh"
