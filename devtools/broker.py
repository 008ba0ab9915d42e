"""The development broker: Mosquitto with a loopback bootstrap listener, plus the
integration's TLS listener as soon as its broker bundle exists.

The bundle is written by Home Assistant (action ``tasmota_tls.export_broker_bundle``)
into ``config/tasmota_tls/<entry>/broker/``. Its configuration names the places the
files would have on a broker host; here it is installed in place: the paths are pointed
at the bundle's own files, the listener is bound to loopback and the ACL gets a block
for the bootstrap logins. Changed certificates, CRL or ACL take a reload (SIGHUP); a
changed listener takes a restart, because Mosquitto does not open listeners on reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .processes import Child
from .workspace import LOOPBACK

LOGGER = logging.getLogger("develop")
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"  # noqa: S105 (a program)
PATH_DIRECTIVES = ("cafile", "capath", "certfile", "keyfile", "crlfile", "acl_file")
# Tasmota's compiled-in login (MqttUser/MqttPassword), which unenrolled devices send.
DEVICE_BOOTSTRAP_LOGIN = ("DVES_USER", "DVES_PASS")
HA_LOGIN_NAME = "homeassistant"


@dataclass(frozen=True)
class InstalledBundle:
    """The bundle as this broker uses it."""

    source: Path  # the bundle folder
    conf: str  # the listener configuration, paths pointing into the bundle
    acl: str  # the bundle's ACL plus the bootstrap logins
    watched: tuple[Path, ...]  # files whose change takes a reload

    def files_digest(self) -> str:
        digest = hashlib.sha256(self.acl.encode())
        for path in self.watched:
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
        return digest.hexdigest()


def find_bundle(config_dir: Path) -> Path | None:
    """The newest bundle folder Home Assistant has written, if any."""
    candidates = [
        conf.parent for conf in config_dir.glob("tasmota_tls/*/broker/**/*.conf") if conf.is_file()
    ]
    if not candidates:
        return None
    return max(
        candidates, key=lambda folder: max(p.stat().st_mtime for p in folder.rglob("*.conf"))
    )


def _bundle_root(conf_folder: Path) -> Path:
    """The folder named ``broker`` above the configuration (layouts nest it)."""
    for folder in (conf_folder, *conf_folder.parents):
        if folder.name == "broker":
            return folder
    return conf_folder


def _local_file(installed: str, files: list[str], root: Path) -> Path | None:
    """The bundle file an installed path names: the longest relative path it ends with."""
    matches = [rel for rel in files if installed == rel or installed.endswith("/" + rel)]
    if not matches:
        matches = [rel for rel in files if Path(rel).name == Path(installed).name]
    return root / max(matches, key=len) if matches else None


def install_bundle(conf_folder: Path, acl_out: Path, logins: list[str]) -> InstalledBundle:
    """Rewrite the bundle's configuration for this broker (see the module docstring)."""
    root = _bundle_root(conf_folder)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    conf_path = max(conf_folder.glob("*.conf"), key=lambda p: p.stat().st_mtime)
    lines: list[str] = []
    acl_source: Path | None = None
    watched: list[Path] = []
    for original in conf_path.read_text().splitlines():
        line, words = original, original.split()
        if words and words[0] in PATH_DIRECTIVES and len(words) == 2:
            local = _local_file(words[1], files, root)
            if local is None:
                raise FileNotFoundError(f"{conf_path}: {words[1]} is not in the bundle")
            if words[0] == "acl_file":
                acl_source, local = local, acl_out
            else:
                watched.append(local)
            line = f"{words[0]} {local}"
        elif words[:1] == ["listener"] and len(words) == 2:
            line = f"{line} {LOOPBACK}"  # the development broker listens on loopback only
        lines.append(line)
    acl = acl_source.read_text() if acl_source else ""
    if acl_source is not None:
        watched.append(acl_source)
    present = set(re.findall(r"^user (\S+)\s*$", acl, flags=re.MULTILINE))
    extra = [name for name in logins if name not in present]
    if acl and extra:
        acl = (
            acl.rstrip("\n") + "\n\n# ---- scripts/develop: logins of the bootstrap listener ----\n"
        )
        acl += "".join(f"user {name}\ntopic readwrite #\n\n" for name in extra)
    return InstalledBundle(conf_path.parent, "\n".join(lines) + "\n", acl, tuple(watched))


class DevelopmentBroker:
    """Mosquitto on loopback; ``sync()`` follows the bundle."""

    def __init__(
        self,
        directory: Path,
        config_dir: Path,
        log_path: Path,
        *,
        bootstrap_port: int,
        ha_password: str,
    ) -> None:
        self.directory = directory
        self.config_dir = config_dir
        self.log_path = log_path
        self.bootstrap_port = bootstrap_port
        self.ha_password = ha_password
        self.conf_path = directory / "mosquitto.conf"
        self.include_dir = directory / "conf.d"
        self.listener_conf = self.include_dir / "tasmota-tls.conf"
        self.acl_path = directory / "tasmota-tls.acl"
        self.child = Child("mosquitto", [MOSQUITTO, "-c", str(self.conf_path)], log_path)
        self.bundle: InstalledBundle | None = None
        self._files_digest = ""
        self.tls_port: int | None = None

    # ---- configuration ---------------------------------------------------------------
    def write_base_config(self) -> None:
        self.include_dir.mkdir(parents=True, exist_ok=True)
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf_path.write_text(f"""\
# Written by scripts/develop at every start; changes here are lost.
{user}per_listener_settings false
persistence true
persistence_location {self.directory}/
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
log_timestamp_format %Y-%m-%dT%H:%M:%S
connection_messages true
allow_anonymous false
password_file {self.directory / "passwd"}

# Bootstrap listener: plaintext, loopback only. Home Assistant logs in as
# {HA_LOGIN_NAME}; devices that are not enrolled yet with Tasmota's default login.
listener {self.bootstrap_port} {LOOPBACK}
protocol mqtt

# The integration's TLS listener, installed from its bundle once it exists.
include_dir {self.include_dir}
""")
        passwd = self.directory / "passwd"
        passwd.unlink(missing_ok=True)
        for name, password in ((HA_LOGIN_NAME, self.ha_password), DEVICE_BOOTSTRAP_LOGIN):
            subprocess.run(
                [
                    MOSQUITTO_PASSWD,
                    "-b",
                    *([] if passwd.exists() else ["-c"]),
                    str(passwd),
                    name,
                    password,
                ],
                check=True,
                capture_output=True,
            )
        passwd.chmod(0o600)

    def _install_current_bundle(self) -> bool:
        """Bring conf.d in line with the bundle; True when the listener text changed."""
        folder = find_bundle(self.config_dir)
        if folder is None:
            changed = self.listener_conf.exists()
            self.listener_conf.unlink(missing_ok=True)
            self.bundle, self.tls_port = None, None
            return changed
        bundle = install_bundle(folder, self.acl_path, [HA_LOGIN_NAME, DEVICE_BOOTSTRAP_LOGIN[0]])
        self.acl_path.write_text(bundle.acl)
        old = self.listener_conf.read_text() if self.listener_conf.exists() else ""
        if old != bundle.conf:
            self.listener_conf.write_text(bundle.conf)
        self.bundle = bundle
        ports = re.findall(r"^listener (\d+)", bundle.conf, flags=re.MULTILINE)
        self.tls_port = int(ports[0]) if ports else None
        return old != bundle.conf

    # ---- process ---------------------------------------------------------------------
    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    async def start(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        self._install_current_bundle()
        mark = self.log_size()
        await self.child.start()
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_bytes()[mark:].decode(errors="replace")
            if re.search(r"mosquitto version \S+ running", text):
                break
            if not self.child.running or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start; see {self.log_path}:\n{text[-2000:]}")
            await asyncio.sleep(0.05)
        self._files_digest = self.bundle.files_digest() if self.bundle else ""

    async def stop(self) -> None:
        await self.child.stop(timeout=5.0)

    async def sync(self) -> str | None:
        """Follow the bundle: "restarted", "reloaded" or None when nothing changed."""
        try:
            listener_changed = self._install_current_bundle()
        except (OSError, ValueError) as err:
            LOGGER.warning("Broker bundle not usable yet: %s", err)
            return None
        digest = self.bundle.files_digest() if self.bundle else ""
        if listener_changed or not self.child.running:
            LOGGER.info(
                "Broker bundle %s: restarting Mosquitto", "installed" if self.bundle else "removed"
            )
            await self.stop()
            await self.start()
            return "restarted"
        if digest != self._files_digest:
            self._files_digest = digest
            LOGGER.info("Broker bundle changed: reloading Mosquitto")
            self.child.signal(signal.SIGHUP)
            return "reloaded"
        return None

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.sync()
