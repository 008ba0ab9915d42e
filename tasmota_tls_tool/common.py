"""What every `tasmota-tls` command module shares: errors, the passphrase, handlers, files.

The passphrase comes from a file, the environment or a prompt; never from the command
line itself, where other users of the machine could read it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki.fsutil import KEY_MODE, atomic_write
from custom_components.tasmota_tls.pki.limits import BROKER_DAYS
from custom_components.tasmota_tls.pki.store import IssuedCredential, PkiStore

PASSPHRASE_ENV = "TASMOTA_TLS_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
PASSPHRASE_FILE_HELP = (
    "read the CA passphrase from this file (its text without the final newline; keep the "
    f"file 0600). Without it: {PASSPHRASE_ENV}, else a prompt in the terminal"
)


class CliError(Exception):
    """A usage problem the user can fix; printed without a traceback."""


def add_passphrase_option(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """--passphrase-file on ``parser``: before the command, or after it like any option.

    On a command's parser it has no default (SUPPRESS), so that it only overrides the
    value given before the command when it is given itself: argparse copies every
    default of a subparser over the main parser's values.
    """
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--passphrase-file", metavar="FILE", default=default, help=PASSPHRASE_FILE_HELP
    )


def read_passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    if args.passphrase_file:
        text = Path(args.passphrase_file).read_text().rstrip("\r\n")
        if not text:
            raise CliError(f"{args.passphrase_file} is empty.")
        return text
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise CliError(
            f"No passphrase: use --passphrase-file, set {PASSPHRASE_ENV}, or run in a terminal."
        )
    first = getpass.getpass("CA passphrase: ")
    if confirm and getpass.getpass("Repeat the passphrase: ") != first:
        raise CliError("The passphrases differ.")
    return first


# A command: its parsed arguments and the store named by --pki; returns the exit code.
Handler: TypeAlias = Callable[[argparse.Namespace, PkiStore], int]
# How a command module adds a command to the parser: (name, handler, help) -> its parser.
AddCommand: TypeAlias = Callable[[str, Handler, str], argparse.ArgumentParser]
BROKER_DAYS_HELP = f"validity of the broker certificate (default {BROKER_DAYS})"


def write_credential(
    out: Path, cert_name: str, key_name: str, credential: IssuedCredential
) -> None:
    atomic_write(out / key_name, credential.key_pem_unencrypted(), KEY_MODE)
    atomic_write(out / cert_name, credential.cert_pem)


def write_ca(out: Path, store: PkiStore) -> None:
    pem = store.ca_certificate().public_bytes(serialization.Encoding.PEM)
    atomic_write(out / "ca.crt", pem)


def write_broker_files(out: Path, store: PkiStore, credential: IssuedCredential) -> None:
    write_ca(out, store)
    write_credential(out, "broker.crt", "broker.key", credential)
    print(f"Wrote ca.crt, broker.crt and broker.key (0600) to {out}")
