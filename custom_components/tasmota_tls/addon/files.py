"""The files the add-on reads: our certificate, key and CA in /ssl, our ACL in /share.

Blocking file I/O: call these in the executor. On Home Assistant OS the core container
and the add-on both see the same /ssl and /share, so one path serves both (tests point
the roots at a temporary folder). Only files named ``tasmota-tls*`` are ever written or
removed; every other file in /ssl or in the customize folder is left untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..pki.fsutil import KEY_MODE, PUBLIC_MODE, atomic_write
from .options import SSL_CA, SSL_CERT, SSL_KEY

SSL_ROOT = Path("/ssl")
SHARE_ROOT = Path("/share")
ACL_CONF = "tasmota-tls.conf"  # loaded by the add-on's include_dir (it reads *.conf)
ACL_FILE = "tasmota-tls.acl"  # not *.conf: include_dir must not read it as configuration
LOCAL_ACL = ACL_FILE + ".local"  # the user's own rules, appended verbatim; never written
_ACL_LINE = re.compile(r"^\s*acl_file\s", re.MULTILINE)


@dataclass(frozen=True)
class TlsFiles:
    cert_chain_pem: bytes  # the broker certificate, then the CA
    key_pem: bytes  # unencrypted: the add-on has no passphrase option
    ca_pem: bytes


def write_tls_files(files: TlsFiles, root: Path | None = None) -> list[Path]:
    """Write our three files into /ssl; the key 0600 (atomically, never world-readable)."""
    ssl_dir = root or SSL_ROOT
    if not ssl_dir.is_dir():
        raise FileNotFoundError(f"{ssl_dir} does not exist: is /ssl mapped into Home Assistant?")
    written = []
    for name, data, mode in (
        (SSL_CA, files.ca_pem, PUBLIC_MODE),
        (SSL_KEY, files.key_pem, KEY_MODE),
        (SSL_CERT, files.cert_chain_pem, PUBLIC_MODE),  # last: the pair is complete before
    ):
        atomic_write(ssl_dir / name, data, mode)
        written.append(ssl_dir / name)
    return written


def customize_dir(folder: str, root: Path | None = None) -> Path:
    """/share/<folder>, refusing a folder name that leaves /share."""
    base = (root or SHARE_ROOT).resolve()
    path = (base / folder.strip("/")).resolve()
    if path == base or base not in path.parents:
        raise ValueError(f"the customize folder {folder!r} is not a folder under /share")
    return path


def foreign_acl_conf(folder: Path) -> list[str]:
    """The user's own *.conf files in the folder that set an acl_file.

    Mosquitto keeps only one acl_file: ours would silently replace theirs, or theirs ours,
    depending on the order include_dir reads them in. Applying refuses instead.
    """
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.conf")):
        if path.name == ACL_CONF:
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if _ACL_LINE.search(text):
            found.append(path.name)
    return found


def read_local_rules(folder: Path) -> str:
    """The user's own rules for the ACL (tasmota-tls.acl.local), if they wrote any."""
    local = folder / LOCAL_ACL
    return local.read_text() if local.is_file() else ""


def write_customize(folder: Path, acl_text: str) -> list[Path]:
    """Write our ACL, then the .conf that names it (so the add-on never reads a dangling name)."""
    folder.mkdir(parents=True, exist_ok=True)
    acl = folder / ACL_FILE
    atomic_write(acl, acl_text.encode(), PUBLIC_MODE)
    conf_text = (
        "# Written by Tasmota TLS (Home Assistant). Rewritten at every change; the ACL it\n"
        f"# names holds one block per enrolled device. Your own rules: {LOCAL_ACL}.\n"
        f"acl_file {acl}\n"
    )
    conf = folder / ACL_CONF
    atomic_write(conf, conf_text.encode(), PUBLIC_MODE)
    return [acl, conf]
