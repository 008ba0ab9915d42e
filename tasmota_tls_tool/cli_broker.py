"""Broker commands of `tasmota-tls`: mosquitto (the bundle), reload and status."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from custom_components.tasmota_tls.broker.acl import (
    DeviceTopics,
    default_device_topics,
    device_topics_from_discovery,
)
from custom_components.tasmota_tls.broker.crl_status import CrlStatus, crl_status, load_crl
from custom_components.tasmota_tls.broker.mosquitto import (
    DEFAULT_PID_FILE,
    LAYOUTS,
    BundleResult,
    reload_broker,
    write_bundle,
)
from custom_components.tasmota_tls.pki import dates
from custom_components.tasmota_tls.pki.limits import DEFAULT_TLS_PORT
from custom_components.tasmota_tls.pki.store import PkiStore, utcnow

from .common import AddCommand, CliError, read_passphrase

ONLINE_NOTE = (
    "A reload does not end open connections. A revoked device that is online stays "
    "connected, but once the regenerated ACL (without it) is loaded it can neither receive "
    "nor publish. To close its connection too, restart the broker (systemctl restart "
    "mosquitto, or restart the Home Assistant add-on)."
)
STATUS_EXIT = {"fresh": 0, "stale": 1, "expired": 3}  # 2: an error, as for every command


def read_discovery(path: Path) -> list[dict[str, Any]]:
    """Discovery configs from a JSON object/list, or `mosquitto_sub -v` output lines."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    configs: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        payload = line if line.lstrip().startswith("{") else line.partition(" ")[2]
        if not payload.strip():
            continue  # an empty retained payload: the device was removed
        try:
            item = json.loads(payload)
        except json.JSONDecodeError as err:
            raise CliError(f"{path}:{number} is not a discovery message ({err.msg}).") from err
        if isinstance(item, dict):
            configs.append(item)
    return configs


def store_devices(
    store: PkiStore, configs: list[dict[str, Any]]
) -> tuple[list[DeviceTopics], list[str]]:
    """One DeviceTopics per valid device certificate; discovery data where it matches."""
    by_topic = {str(config.get("t")): config for config in configs}
    now = utcnow()
    devices: list[DeviceTopics] = []
    without: list[str] = []
    for entry in store.entries():
        if entry.kind not in ("device", "imported") or entry.current_status(now) != "valid":
            continue
        if any(d.name == entry.cn for d in devices):
            continue  # a renewed device has two valid certificates, one name
        topic = entry.topic or entry.cn
        if topic in by_topic:
            devices.append(device_topics_from_discovery(by_topic[topic], name=entry.cn))
        else:
            devices.append(default_device_topics(entry.cn, topic))
            without.append(entry.cn)
    return devices, without


def cmd_mosquitto(args: argparse.Namespace, store: PkiStore) -> int:
    configs: list[dict[str, Any]] = []
    for path in args.discovery:
        configs += read_discovery(Path(path))
    devices, without = store_devices(store, configs)
    result = write_bundle(
        store,
        read_passphrase(args),
        Path(args.out),
        port=args.port,
        layout=args.layout,
        devices=devices,
        ha_identity=args.ha_identity,
        bootstrap_port=args.bootstrap_port,
        bind_address=args.bind,
        install_root=args.install_dir,
    )
    _print_bundle(result, without)
    return 0


def _print_bundle(result: BundleResult, without: list[str]) -> None:
    if result.crl_refreshed:
        print("The store's CRL was missing or stale: wrote a fresh one.")
    for role, path in result.files.items():
        state = "written" if role in result.changed else "unchanged"
        print(f"{state:9}  {path}  ->  {result.installed[role]}")
    if without:
        print("No discovery data for: " + ", ".join(without) + ". They get Tasmota's default "
              "topics and no discovery rights; pass --discovery FILE (saved with "
              "`mosquitto_sub -t 'tasmota/discovery/+/config' -v`).")  # fmt: skip
    if result.skipped_devices:
        print("Left out (no valid certificate): " + ", ".join(result.skipped_devices))
    if result.restart_needed:
        print(f"Next: install the files as {result.files['readme']} says, then restart Mosquitto.")
    elif result.reload_needed:
        print("Next: copy the changed files to the broker and reload it (tasmota-tls reload).")
    else:
        print("Nothing changed.")


def cmd_reload(args: argparse.Namespace, store: PkiStore) -> int:
    if args.remote:
        print("On the broker host, after copying the new crl.pem and ACL there:")
        print("  sudo systemctl reload mosquitto      # new connections see the new CRL and ACL")
        print("  sudo systemctl restart mosquitto     # also cuts off revoked devices still online")
        print("Home Assistant's Mosquitto add-on: restart the add-on.")
        return 0
    pid_file = Path(args.pid_file) if args.pid_file else None
    reload_broker(args.pid, pid_file)
    target = f"pid {args.pid}" if args.pid else f"the pid in {pid_file or DEFAULT_PID_FILE}"
    print(f"Sent SIGHUP to mosquitto ({target}): it re-reads its CRL, ACL and certificates.")
    print(ONLINE_NOTE)
    return 0


def _status_json(status: CrlStatus, broker_days: int | None) -> str:
    return json.dumps(
        {
            "crl_state": status.state,
            "crl_next_update": status.next_update.isoformat() if status.next_update else None,
            "crl_refresh_by": status.refresh_by.isoformat() if status.refresh_by else None,
            "crl_revoked": status.revoked,
            "broker_days_left": broker_days,
        }
    )


def cmd_status(args: argparse.Namespace, store: PkiStore) -> int:
    now = utcnow()
    if args.crl:
        crl = load_crl(Path(args.crl))
    else:
        stored = store.crl()
        if stored is None:
            raise CliError("The store has no CRL yet: run `tasmota-tls crl`.")
        crl = stored
    status = crl_status(crl, now)
    broker = store.broker_certificate()
    broker_days = (dates.not_after(broker) - now).days if broker else None
    if args.json:
        print(_status_json(status, broker_days))
        return STATUS_EXIT[status.state]
    prefix = {"fresh": "OK", "stale": "WARNING", "expired": "ERROR"}[status.state]
    print(f"{prefix}: {status.message()} ({status.revoked} revoked)")
    if broker_days is None:
        print("No broker certificate yet: run `tasmota-tls broker HOST`.")
    else:
        print(f"Broker certificate valid for {broker_days} more days.")
    return STATUS_EXIT[status.state]


def register(add: AddCommand) -> None:
    """Add the broker commands to the `tasmota-tls` parser."""
    bundle = add("mosquitto", cmd_mosquitto,
                 "Write the Mosquitto bundle: TLS listener, per-device ACL, certificates, CRL, "
                 "README. Only changed files are rewritten.")  # fmt: skip
    bundle.add_argument("--out", required=True, help="output folder")
    bundle.add_argument("--port", type=int, default=DEFAULT_TLS_PORT, help="TLS listener port")
    bundle.add_argument("--layout", choices=LAYOUTS, default="folder",
                        help="server: Debian's /etc/mosquitto; ha-addon: Home Assistant's "
                        "Mosquitto add-on (/ssl, /share/mosquitto); folder: one folder to "
                        "copy to a remote broker (default)")  # fmt: skip
    bundle.add_argument("--discovery", action="append", default=[], metavar="FILE",
                        help="devices' discovery configs (JSON, or `mosquitto_sub -v` lines "
                        "of tasmota/discovery/+/config); the ACL uses their topics")  # fmt: skip
    bundle.add_argument("--ha-identity", default="homeassistant",
                        help="Home Assistant's certificate CN: full access")  # fmt: skip
    bundle.add_argument("--bind", help="listen on this address only (default: all)")
    bundle.add_argument("--install-dir", help="where the output folder goes on the broker host")
    bundle.add_argument(
        "--bootstrap-port", type=int, help="port of the commented plaintext listener (1883)"
    )

    reload_help = "Make a local Mosquitto re-read its CRL and ACL (SIGHUP). " + ONLINE_NOTE
    reload = add("reload", cmd_reload, reload_help)
    reload.add_argument("--pid", type=int, help="the broker's process id")
    reload.add_argument("--pid-file", help=f"read the process id here (default {DEFAULT_PID_FILE})")
    reload.add_argument("--remote", action="store_true",
                        help="print the steps for a broker on another host instead")  # fmt: skip

    status = add("status", cmd_status,
                 "Check the CRL's freshness and the broker certificate. Exit code 0 = fresh, "
                 "1 = less than a third of the CRL period left, 3 = expired.")  # fmt: skip
    status.add_argument(
        "--crl", help="check this CRL file (e.g. the broker's) instead of the store's"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
