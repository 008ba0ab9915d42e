"""Command line: scripts/virtual-tasmota --broker HOST:PORT --count N --state DIR ..."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import NotRequired, TypedDict

from .fleet import FIRMWARE_VERSIONS, Fleet
from .timing import FAST_TIMING, Timing


def _broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, int(port), socket.AF_INET)}
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot resolve {host}: {err}") from err
    if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise argparse.ArgumentTypeError(
            f"{host} is not a loopback address; virtual devices stay on 127.0.0.0/8"
        )
    return host, int(port)


# Command-line names of the DeviceFaults switches (faults.py), to make one device fail.
FAULT_OPTIONS = {
    "--no-tlskey": "runs a build without USE_MQTT_CLIENT_CERT, like every prebuilt binary: "
    'TLSKey answers {"Command":"Unknown"}',
    "--reject-tls": "fails every TLS handshake (error 62, the broker not trusted), so after "
    "a switch to TLS it never connects and rolls back",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="virtual-tasmota",
        description="Run N virtual Tasmota devices against an MQTT broker on this machine.",
    )
    parser.add_argument(
        "--broker", type=_broker, required=True, help="broker HOST:PORT (loopback only)"
    )
    parser.add_argument("--count", type=int, default=1, help="number of devices (default 1)")
    parser.add_argument(
        "--state", type=Path, required=True, help="state directory (the devices' flash)"
    )
    parser.add_argument(
        "--http-base-port",
        type=int,
        default=80,
        help="HTTP port, served by every device on its own 127.0.0.N (default 80: root)",
    )
    parser.add_argument(
        "--first-ip", default="127.0.0.2", help="address of the first device (default 127.0.0.2)"
    )
    parser.add_argument("--firmware", choices=list(FIRMWARE_VERSIONS), default="14.5.0")
    parser.add_argument(
        "--no-tls-ecdsa",
        action="store_true",
        help="a build without USE_MQTT_TLS_ECDSA (no ECDSA chain verifier even with SetOption165)",
    )
    parser.add_argument("--chip", choices=["esp8266", "esp32"], default="esp8266")
    parser.add_argument(
        "--ca", type=Path, help="PEM file: CA(s) compiled into the firmware (trust anchors)"
    )
    parser.add_argument(
        "--boot-delay",
        type=float,
        default=Timing.boot_delay,
        help=f"seconds from power on to the first MQTT attempt (firmware: {Timing.boot_delay:.1f})",
    )
    parser.add_argument(
        "--restart-delay",
        type=float,
        default=Timing.restart_delay,
        help=f"seconds from Restart to power off (firmware: {Timing.restart_delay:.1f})",
    )
    parser.add_argument(
        "--tls-handshake",
        type=float,
        help=f"seconds a TLS handshake takes on the chip (firmware: {Timing.tls_handshake:.1f}; "
        "default: scaled with --boot-delay)",
    )
    parser.add_argument(
        "--fast", action="store_true", help="restarts in milliseconds (FAST_TIMING), for tests"
    )
    parser.add_argument(
        "--retry-delay", type=float, default=10.0, help="real seconds of MqttRetry 10 (default 10)"
    )
    parser.add_argument(
        "--rule-timer-scale", type=float, default=1.0, help="real seconds per RuleTimer second"
    )
    parser.add_argument(
        "--discovery-delay", type=float, default=0.0, help="seconds before discovery (firmware: 10)"
    )
    parser.add_argument("--web-password", help="WebPassword for new devices")
    for option, fault in FAULT_OPTIONS.items():
        text = f"device N (1 is the one at --first-ip) {fault} (repeatable)"
        parser.add_argument(option, type=int, action="append", default=[], metavar="N", help=text)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    for option in FAULT_OPTIONS:
        numbers = getattr(args, _attribute(option))
        if wrong := [n for n in numbers if not 1 <= n <= args.count]:
            parser.error(f"{option} {wrong[0]}: devices are numbered 1 to {args.count}")
    return args


def _attribute(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def apply_faults(fleet: Fleet, args: argparse.Namespace) -> None:
    """The fault knobs of the command line (DeviceFaults), on the devices they name."""
    for option, text in FAULT_OPTIONS.items():
        for number in getattr(args, _attribute(option)):
            device = fleet.devices[number - 1]
            setattr(device.faults, _attribute(option), True)
            logging.getLogger("virtual_tasmota").info(
                "fleet | %s %s (%s %d)", device.topic, text, option, number
            )


class _TimingOptions(TypedDict):
    """The timing keywords of Fleet that the command line sets."""

    boot_delay: float
    restart_delay: float
    backlog_delay: NotRequired[float]
    tls_handshake: float | None


def _timing(args: argparse.Namespace) -> _TimingOptions:
    if args.fast:
        fast = FAST_TIMING
        return {
            "boot_delay": fast.boot_delay,
            "restart_delay": fast.restart_delay,
            "backlog_delay": fast.backlog_delay,
            "tls_handshake": fast.tls_handshake,
        }
    return {
        "boot_delay": args.boot_delay,
        "restart_delay": args.restart_delay,
        "tls_handshake": args.tls_handshake,
    }


async def run(args: argparse.Namespace) -> int:
    host, port = args.broker
    fleet = Fleet(
        broker_host=host,
        broker_port=port,
        state_dir=args.state,
        count=args.count,
        first_ip=args.first_ip,
        http_port=args.http_base_port,
        firmware=args.firmware,
        tls_ecdsa=False if args.no_tls_ecdsa else None,
        chip=args.chip,
        trust_anchors_pem=args.ca.read_bytes() if args.ca else None,
        **_timing(args),
        retry_delay=args.retry_delay,
        rule_timer_scale=args.rule_timer_scale,
        discovery_delay=args.discovery_delay,
        web_password=args.web_password,
    )
    apply_faults(fleet, args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await fleet.start()
        except TimeoutError as err:
            logging.getLogger("virtual_tasmota").warning("fleet | %s", err)
        for device in fleet.devices:
            logging.getLogger("virtual_tasmota").info(
                "fleet | %s mac %s http://%s:%d/cm",
                device.topic,
                device.mac,
                device.ip,
                device.http_port,
            )
        await stop.wait()
    finally:
        await fleet.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(message)s", stream=sys.stdout
    )
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
