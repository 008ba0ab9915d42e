"""scripts/develop: Mosquitto, N virtual Tasmota devices and Home Assistant on loopback.

Ctrl-C or SIGTERM stops everything; state stays in config/ and state/, so the next
start resumes. With --demo an owner is onboarded and the integration's entry created
through Home Assistant's HTTP API, so the dashboard shows the devices right away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from homeassistant.const import __version__ as HA_VERSION

from . import demo
from .broker import HA_LOGIN_NAME, DevelopmentBroker
from .device_names import name_devices
from .ha_api import HomeAssistantApi, Login
from .hass_config import seed_mqtt_entry, update_mqtt_port, write_config
from .processes import Child
from .workspace import LOOPBACK, REPO_ROOT, SavedSettings, Workspace, port_is_free

LOGGER = logging.getLogger("develop")
DEMO_USER = Login(username="demo", password="", name="Demo Owner")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run Mosquitto, virtual Tasmota devices and Home Assistant with this "
        "integration, all on loopback.",
    )
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's HTTP port")
    parser.add_argument("--devices", type=int, default=5, help="number of virtual devices")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="onboard an owner and create the entry with a new CA (no clicks)",
    )
    parser.add_argument("--config", type=Path, help="Home Assistant folder (default config/)")
    parser.add_argument("--state", type=Path, help="state folder (default state/)")
    parser.add_argument(
        "--first-ip",
        default="127.0.0.2",
        help="loopback address of the first device (default 127.0.0.2)",
    )
    parser.add_argument(
        "--device-http-port",
        type=int,
        default=80 if os.geteuid() == 0 else 8080,
        help="HTTP port of every device (default 80 as root, else 8080)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=2.0,
        help="seconds a device waits before reconnecting (firmware: 10)",
    )
    # Make one device fail (docs/develop.md): passed on to scripts/virtual-tasmota.
    parser.add_argument("--no-tlskey", type=int, action="append", default=[], metavar="N",
                        help="virtual device N (1 = the first) has firmware without TLSKey "
                        "(repeatable)")  # fmt: skip
    parser.add_argument("--reject-tls", type=int, action="append", default=[], metavar="N",
                        help="virtual device N fails every TLS handshake, so its switch to "
                        "TLS rolls back (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.devices <= 250:
        parser.error("--devices must be between 1 and 250")
    for option, numbers in (("--no-tlskey", args.no_tlskey), ("--reject-tls", args.reject_tls)):
        if wrong := [n for n in numbers if not 1 <= n <= args.devices]:
            parser.error(f"{option} {wrong[0]}: devices are numbered 1 to {args.devices}")
    if not ipaddress.ip_address(args.first_ip).is_loopback:
        parser.error("--first-ip must be a loopback address")
    return args


def fleet_argv(args: argparse.Namespace, bootstrap_port: int, fleet_dir: Path) -> list[str]:
    """The virtual devices' command line (scripts/virtual-tasmota's options)."""
    return [
        sys.executable,
        "-m",
        "virtual_tasmota",
        "--broker",
        f"{LOOPBACK}:{bootstrap_port}",
        "--count",
        str(args.devices),
        "--state",
        str(fleet_dir),
        "--first-ip",
        args.first_ip,
        "--http-base-port",
        str(args.device_http_port),
        "--retry-delay",
        str(args.retry_delay),
        *(f"--no-tlskey={number}" for number in args.no_tlskey),
        *(f"--reject-tls={number}" for number in args.reject_tls),
    ]


class Instance:
    """Everything one `scripts/develop` runs, started and stopped in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workspace = Workspace.at(config=args.config, state=args.state)
        self.workspace.create()
        self.saved = SavedSettings(self.workspace.state / "settings.json")
        self.url = f"http://{LOOPBACK}:{args.port}"
        self.children: list[Child] = []
        self.broker: DevelopmentBroker | None = None
        self.login: Login | None = None

    def _ports(self) -> tuple[int, int]:
        if not port_is_free(self.args.port):
            raise RuntimeError(f"Port {self.args.port} is in use; pick another with --port")
        bootstrap = self.saved.port("mqtt_bootstrap_port", {self.args.port})
        tls = self.saved.port("mqtt_tls_port", {self.args.port, bootstrap})
        return bootstrap, tls

    async def start(self) -> None:
        ws = self.workspace
        bootstrap_port, tls_port = self._ports()
        mqtt_password = self.saved.secret("mqtt_password")
        self.saved.save()
        write_config(ws.config, self.args.port)
        if not seed_mqtt_entry(ws.config, bootstrap_port, HA_LOGIN_NAME, mqtt_password):
            update_mqtt_port(ws.config, bootstrap_port, mqtt_password)

        self.broker = DevelopmentBroker(
            ws.broker_dir,
            ws.config,
            ws.logs / "mosquitto.log",
            bootstrap_port=bootstrap_port,
            ha_password=mqtt_password,
        )
        self.broker.write_base_config()
        self.children.append(self.broker.child)
        await self.broker.start()
        LOGGER.info(
            "Mosquitto on %s:%d (bootstrap)%s",
            LOOPBACK,
            bootstrap_port,
            f" and :{self.broker.tls_port} (TLS)" if self.broker.tls_port else "",
        )

        fleet = Child(
            "devices",
            fleet_argv(self.args, bootstrap_port, ws.fleet_dir),
            ws.logs / "devices.log",
            cwd=REPO_ROOT,
        )
        self.children.append(fleet)
        new = [
            i
            for i in range(self.args.devices)
            if not (ws.fleet_dir / f"device-{i:03d}.json").exists()
        ]
        await fleet.start()
        if new:
            await name_devices(
                self.args.first_ip, self.args.devices, self.args.device_http_port, only=new
            )
        LOGGER.info(
            "%d virtual Tasmota devices from %s (HTTP port %d)",
            self.args.devices,
            self.args.first_ip,
            self.args.device_http_port,
        )

        hass = Child(
            "home-assistant",
            [sys.executable, "-m", "devtools.loopback_hass", "--skip-pip", "-c", str(ws.config)],
            ws.logs / "home-assistant.log",
            cwd=REPO_ROOT,
        )
        self.children.insert(0, hass)  # stopped first
        await hass.start()
        LOGGER.info("Home Assistant %s starting at %s", HA_VERSION, self.url)
        async with HomeAssistantApi(self.url) as api:
            await api.wait_until_up(timeout=120, alive=lambda: hass.running)
            if self.args.demo:
                self.login = Login(
                    DEMO_USER.username, self.saved.secret("demo_password"), DEMO_USER.name
                )
                self.saved.save()
                settings = demo.DemoSettings(
                    login=self.login,
                    ca_passphrase=self.saved.secret("ca_passphrase"),
                    tls_port=tls_port,
                    device_http_port=self.args.device_http_port,
                    devices=self.args.devices,
                )
                self.saved.save()
                await demo.prepare(api, settings, self.broker.sync)
        self._publish(bootstrap_port, tls_port)
        self._banner(tls_port)

    def _publish(self, bootstrap_port: int, tls_port: int) -> None:
        """state/develop.json: what tools and tests need to find this instance."""
        info: dict[str, Any] = {
            "url": self.url,
            "pid": os.getpid(),
            "config": str(self.workspace.config),
            "state": str(self.workspace.state),
            "mqtt_bootstrap_port": bootstrap_port,
            "mqtt_tls_port": tls_port,
            "first_ip": self.args.first_ip,
            "devices": self.args.devices,
            "device_http_port": self.args.device_http_port,
            "children": {child.name: child.pid for child in self.children},
            "logs": {child.name: str(child.log_path) for child in self.children},
        }
        if self.login:
            info["login"] = {"username": self.login.username, "password": self.login.password}
        path = self.workspace.runtime_file
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(info, handle, indent=2)
        os.replace(tmp, path)

    def _banner(self, tls_port: int) -> None:
        logs = self.workspace.logs
        lines = ["", f"Home Assistant is running at {self.url}", ""]
        if self.login:
            lines += [
                f"  Log in as  {self.login.username}  /  {self.login.password}",
                "  Settings > Devices & services > Tasmota TLS: every virtual device is listed.",
                "  Open one and press Enrol: its TLS status goes to connected_tls and the",
                "  certificate expiry shows a date a year ahead.",
            ]
        else:
            lines += [
                "  1. Open the URL and create your owner account.",
                "  2. Settings > Devices & services > Add integration > Tasmota TLS:",
                f"     create a new CA; broker host {LOOPBACK}, TLS port {tls_port}.",
                "  3. Developer tools > Actions > Tasmota TLS: Export broker bundle.",
                "     The broker opens its TLS listener as soon as the bundle is written.",
                "  4. Open a device and press Enrol.",
            ]
        lines += [
            "",
            f"  Logs: {logs}/ (home-assistant.log, mosquitto.log, devices.log)",
            "  Stop with Ctrl-C; the next start resumes where this one stopped.",
            "",
        ]
        print("\n".join(lines), flush=True)

    async def supervise(self) -> None:
        """Follow the broker bundle until a child ends."""
        assert self.broker is not None
        while True:
            await asyncio.sleep(1.0)
            await self.broker.sync()
            for child in self.children:
                if child is not self.broker.child and not child.running:
                    raise RuntimeError(f"{child.name} exited; see {child.log_path}")

    async def stop(self) -> None:
        """Home Assistant first (it says goodbye to the broker), then devices, then broker."""
        for child in list(self.children):
            await child.stop(timeout=30.0 if child.name == "home-assistant" else 10.0)
        self.workspace.runtime_file.unlink(missing_ok=True)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    instance = Instance(args)

    async def lifetime() -> None:
        await instance.start()
        await instance.supervise()

    work = asyncio.create_task(lifetime())
    stopping = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if work.done() and (error := work.exception()) is not None:
            LOGGER.error("%s", error)
            code = 1
    finally:
        for task in (work, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        LOGGER.info("Stopping")
        await instance.stop()
        LOGGER.info("Stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s develop: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    try:
        return asyncio.run(run(args))
    except RuntimeError as err:
        LOGGER.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
