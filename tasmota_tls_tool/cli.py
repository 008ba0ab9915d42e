"""`tasmota-tls`: the manual guide's PKI steps as one command-line tool.

Needs only `cryptography`. The passphrase comes from a prompt, the TASMOTA_TLS_PASSPHRASE
environment variable or --passphrase-file; never from the command line. The commands live
in cli_pki, cli_broker and cli_rotate; this module builds the parser and runs one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from custom_components.tasmota_tls.pki.errors import PkiError
from custom_components.tasmota_tls.pki.store import PkiStore

from . import cli_broker, cli_pki, cli_rotate
from .common import CliError, Handler, add_passphrase_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tasmota-tls",
        description="Certificates for Tasmota devices on a Mosquitto broker over TLS.",
        allow_abbrev=False,  # "--passphrase SECRET" must not pass for --passphrase-file
    )
    parser.add_argument("--pki", required=True, help="folder of the CA store (created by init)")
    add_passphrase_option(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        add_passphrase_option(sub)  # also after the command, and listed in its --help
        return sub

    for module in (cli_pki, cli_broker, cli_rotate):
        module.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args, PkiStore(args.pki)))
    except (PkiError, CliError) as err:
        print(f"tasmota-tls: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"tasmota-tls: error: {err.strerror or err}: {err.filename or ''}", file=sys.stderr)
        return 2
