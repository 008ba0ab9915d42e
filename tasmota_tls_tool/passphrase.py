"""Where the CLI's CA passphrase comes from: a file, the environment or a prompt.

Never from the command line itself, where other users of the machine could read it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

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
