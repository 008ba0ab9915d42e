"""The broker bundle: a Mosquitto TLS listener, its ACL, certificates, CRL and a README.

Three layouts put the same content where each kind of broker expects it:
``server`` (Debian's /etc/mosquitto), ``ha-addon`` (Home Assistant's Mosquitto add-on:
/ssl and /share/mosquitto) and ``folder`` (one self-contained folder for a remote broker).

The tree under the output folder mirrors the broker's file system, so the output folder
may also be the broker's root itself (install in place). Regenerating is safe while the
broker runs: each file is replaced atomically, only files
whose content or mode changed are written, and the configuration is written last so the
broker never reads a configuration that names a file not yet in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography.hazmat.primitives import serialization

from ..pki import dates
from ..pki.errors import PkiError
from ..pki.fsutil import KEY_MODE, PUBLIC_MODE, atomic_write
from ..pki.keys import plain_pem
from ..pki.limits import DEFAULT_TLS_PORT
from ..pki.store import PkiStore, utcnow
from ..pki.x509_names import common_name
from . import bundle_text
from .acl import (
    ADDON_SYSTEM_USERS,
    DEFAULT_DENY,
    DeviceTopics,
    LeftOut,
    admit,
    check_denied,
    render_acl,
)
from .bundle_text import ListenerSettings
from .crl_status import CrlStatus, crl_status

Layout: TypeAlias = Literal["server", "ha-addon", "folder"]
LAYOUTS: tuple[Layout, ...] = ("server", "ha-addon", "folder")
DEFAULT_PID_FILE = Path("/run/mosquitto/mosquitto.pid")  # Debian's mosquitto.conf pid_file
DEFAULT_BOOTSTRAP_PORT = 1883
# ESP8266 Tasmota offers only the first; the others serve ordinary TLS 1.2 clients.
TLS12_CIPHERS = (
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True)
class LayoutPaths:
    """Where each file goes, relative to the output folder and to the broker's file system."""

    conf: str
    acl: str
    ca: str
    cert: str
    key: str
    crl: str
    readme: str
    install_root: str  # the output folder's place on the broker host

    @property
    def local_acl(self) -> str:
        return self.acl + ".local"

    def installed(self, role: str, root: str | None = None) -> str:
        return str(Path(root or self.install_root) / getattr(self, role))


LAYOUT_PATHS: dict[str, LayoutPaths] = {
    "server": LayoutPaths(
        conf="etc/mosquitto/conf.d/tasmota-tls.conf",
        acl="etc/mosquitto/tasmota-tls.acl",
        ca="etc/mosquitto/ca_certificates/tasmota-tls-ca.crt",
        crl="etc/mosquitto/ca_certificates/tasmota-tls-crl.pem",
        cert="etc/mosquitto/certs/tasmota-tls-broker.crt",
        key="etc/mosquitto/certs/tasmota-tls-broker.key",
        readme="etc/mosquitto/tasmota-tls-README.md",
        install_root="/",
    ),
    "ha-addon": LayoutPaths(
        conf="share/mosquitto/tasmota-tls.conf",
        acl="share/mosquitto/tasmota-tls.acl",
        ca="ssl/tasmota-tls/ca.crt",
        crl="ssl/tasmota-tls/crl.pem",
        cert="ssl/tasmota-tls/broker.crt",
        key="ssl/tasmota-tls/broker.key",
        readme="share/mosquitto/tasmota-tls-README.md",
        install_root="/",
    ),
    "folder": LayoutPaths(
        conf="tasmota-tls.conf",
        acl="tasmota-tls.acl",
        ca="ca.crt",
        crl="crl.pem",
        cert="broker.crt",
        key="broker.key",
        readme="README.md",
        install_root="/etc/mosquitto/tasmota-tls",
    ),
}
# Written in this order: what the configuration names first, the configuration last.
FILE_ORDER = ("ca", "cert", "key", "crl", "acl", "conf", "readme")


@dataclass(frozen=True)
class BundleResult:
    out_dir: Path
    layout: Layout
    files: dict[str, Path]  # role -> file in out_dir
    installed: dict[str, str]  # role -> path on the broker host
    changed: tuple[str, ...]  # roles whose file was (re)written
    crl: CrlStatus
    crl_refreshed: bool
    skipped_devices: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = field(default=())
    left_out: tuple[LeftOut, ...] = ()  # conflicting or refused devices (leave_out=True)

    @property
    def reload_needed(self) -> bool:
        """The broker must re-read its files (SIGHUP) for the change to count."""
        return any(role != "readme" for role in self.changed)

    @property
    def restart_needed(self) -> bool:
        """A changed listener (port, address) takes a restart; a reload does not rebind."""
        return "conf" in self.changed


def write_bundle(
    store: PkiStore,
    passphrase: str,
    out_dir: Path,
    *,
    port: int = DEFAULT_TLS_PORT,
    layout: Layout = "folder",
    devices: Sequence[DeviceTopics] = (),
    ha_identity: str = "homeassistant",
    bootstrap_port: int | None = None,
    bind_address: str | None = None,
    install_root: str | None = None,
    now: dt.datetime | None = None,
    deny: Sequence[str] = DEFAULT_DENY,
    leave_out: bool = False,
) -> BundleResult:
    """Write (or update) the bundle in ``out_dir``; returns which files changed.

    Devices without a valid certificate in the store get no ACL entry (listed in
    ``skipped_devices``). A missing or stale CRL is refreshed in the store first.
    ``install_root`` overrides where the output folder sits on the broker host.
    ``deny`` lists topic roots no device may reach. A device that conflicts with
    another or reaches a denied root stops the export with its error, or with
    ``leave_out`` is left out of the ACL (``left_out``) while the rest is written:
    the first device of ``devices`` to claim a topic or name keeps it.
    """
    if layout not in LAYOUT_PATHS:
        raise PkiError(f"Unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.",
                       code="invalid_layout")  # fmt: skip
    for number in (port, bootstrap_port or DEFAULT_BOOTSTRAP_PORT):
        if not 0 < number < 65536:
            raise PkiError(f"Port {number} is not between 1 and 65535.", code="invalid_port")
    now = now or utcnow()
    broker_cert = store.broker_certificate()
    if broker_cert is None:
        raise PkiError(
            "The store has no broker certificate yet. Run `tasmota-tls broker HOST` first "
            "(HOST = the MqttHost your devices use).",
            code="no_broker_certificate",
        )
    broker_key = store.broker_key(passphrase)
    crl = store.crl()
    refreshed = crl is None or crl_status(crl, now).state != "fresh"
    if refreshed:
        crl = store.generate_crl(passphrase)
    assert crl is not None

    paths = LAYOUT_PATHS[layout]
    kept, skipped = _devices_with_valid_certificates(store, devices, now)
    identities = (ha_identity, *(ADDON_SYSTEM_USERS if layout == "ha-addon" else ()))
    left: list[LeftOut] = []
    if leave_out:
        admitted, left = admit(kept, tuple(dict.fromkeys(identities)), deny)
        kept = tuple(admitted)
    else:
        for device in kept:
            check_denied(device, deny)
    settings = ListenerSettings(
        layout=layout,
        port=port,
        bind_address=bind_address,
        bootstrap_port=bootstrap_port or DEFAULT_BOOTSTRAP_PORT,
        paths={role: paths.installed(role, install_root) for role in (*FILE_ORDER, "local_acl")},
        ha_identities=tuple(dict.fromkeys(identities)),
        devices=kept,
        skipped=skipped,
        crl=crl_status(crl, now),
        broker_host=common_name(broker_cert),
        broker_not_after=dates.not_after(broker_cert),
    )
    out_dir = Path(out_dir)
    local_acl = out_dir / paths.local_acl
    local = local_acl.read_text() if local_acl.is_file() else ""
    contents: dict[str, tuple[bytes, int]] = {
        "ca": (store.ca_certificate().public_bytes(serialization.Encoding.PEM), PUBLIC_MODE),
        "cert": (broker_cert.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE),
        "key": (plain_pem(broker_key), KEY_MODE),
        "crl": (crl.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE),
        "acl": (render_acl(kept, settings.ha_identities, local=local).encode(), PUBLIC_MODE),
        "conf": (bundle_text.render_conf(settings).encode(), PUBLIC_MODE),
        "readme": (bundle_text.render_readme(settings).encode(), PUBLIC_MODE),
    }
    changed: list[str] = []
    with _locked(out_dir):
        for role in FILE_ORDER:
            data, mode = contents[role]
            if _write_if_changed(out_dir / getattr(paths, role), data, mode):
                changed.append(role)
    return BundleResult(
        out_dir=out_dir,
        layout=layout,
        files={role: out_dir / getattr(paths, role) for role in FILE_ORDER},
        installed={role: settings.paths[role] for role in FILE_ORDER},
        changed=tuple(changed),
        unchanged=tuple(role for role in FILE_ORDER if role not in changed),
        crl=settings.crl,
        crl_refreshed=refreshed,
        skipped_devices=skipped,
        left_out=tuple(left),
    )


def _devices_with_valid_certificates(
    store: PkiStore, devices: Sequence[DeviceTopics], now: dt.datetime
) -> tuple[tuple[DeviceTopics, ...], tuple[str, ...]]:
    valid = {
        entry.cn
        for entry in store.entries()
        if entry.kind in ("device", "imported") and entry.current_status(now) == "valid"
    }
    kept = tuple(device for device in devices if device.name in valid)
    skipped = tuple(device.name for device in devices if device.name not in valid)
    return kept, skipped


def _write_if_changed(path: Path, data: bytes, mode: int) -> bool:
    try:
        before = path.stat()
        same = path.read_bytes() == data
    except FileNotFoundError:
        before, same = None, False
    if before is not None and same and (before.st_mode & 0o777) == mode:
        return False
    if same:
        path.chmod(mode)
        return True
    atomic_write(path, data, mode)
    if before is not None:
        # Installed in place, the key belongs to the broker's user: keep that owner.
        with contextlib.suppress(PermissionError):
            os.chown(path, before.st_uid, before.st_gid)
    return True


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time per output folder (flock on the folder itself)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def reload_broker(pid: int | None = None, pid_file: Path | None = None) -> None:
    """Send SIGHUP to a local Mosquitto so it re-reads its CRL, ACL and certificates.

    With neither argument, Debian's pid file is read. Connections already open stay
    open: a revoked device that is online is cut off only by a broker restart.
    """
    if pid is None:
        path = Path(pid_file) if pid_file is not None else DEFAULT_PID_FILE
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError) as err:
            raise PkiError(
                f"Cannot read a process id from {path}. Pass --pid, or reload the broker "
                "yourself (systemctl reload mosquitto).",
                code="broker_not_found",
            ) from err
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError as err:
        raise PkiError(f"No process {pid} is running.", code="broker_not_found") from err
    if name != "mosquitto":
        raise PkiError(f"Process {pid} is {name!r}, not mosquitto; nothing was sent.",
                       code="not_mosquitto")  # fmt: skip
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError as err:
        raise PkiError(
            f"Not allowed to signal process {pid}; run as root or as the broker's user.",
            code="permission_denied",
        ) from err
    except ProcessLookupError as err:
        raise PkiError(f"Process {pid} ended.", code="broker_not_found") from err
