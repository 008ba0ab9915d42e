"""`tasmota-tls rotate-broker stage|switch|retire`: a new broker key no device drops.

Devices in fingerprint mode accept the broker when its key matches MqttFingerprint1 OR
MqttFingerprint2. So the new key's fingerprint goes to slot 2 first (stage), the broker
changes keys afterwards (switch), and the old fingerprint leaves slot 1 last (retire).
Each step prints the per-device commands; --apply sends them over MQTT (paho-mqtt, only
imported then: the rest of the tool needs nothing but `cryptography`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from custom_components.tasmota_tls.pki import broker_keys
from custom_components.tasmota_tls.pki.fingerprint import (
    EC_FINGERPRINT_MESSAGE,
    has_fingerprint,
    tasmota_fingerprint,
)
from custom_components.tasmota_tls.pki.limits import BROKER_DAYS, DEFAULT_TLS_PORT
from custom_components.tasmota_tls.pki.store import PkiStore, utcnow
from custom_components.tasmota_tls.pki.topics import DEFAULT_FULL_TOPIC, TopicModel, parse_prefixes
from custom_components.tasmota_tls.pki.x509_names import common_name

from .common import (
    AddCommand,
    CliError,
    add_passphrase_option,
    read_passphrase,
    write_broker_files,
)

MQTT_PASSWORD_ENV = "TASMOTA_TLS_MQTT_PASSWORD"  # noqa: S105 (a variable name)


def enrolled_devices(store: PkiStore, args: argparse.Namespace) -> list[tuple[str, TopicModel]]:
    """(name, topics) of every device with a valid certificate, newest certificate first."""
    try:
        prefixes = parse_prefixes(args.prefixes)
    except ValueError as err:
        raise CliError(f"--prefixes: {err}") from None
    now = utcnow()
    seen: dict[str, TopicModel] = {}
    entries = [e for e in store.entries() if e.kind in ("device", "imported")]
    for entry in sorted(entries, key=lambda e: e.not_after, reverse=True):
        if entry.current_status(now) == "valid" and entry.cn not in seen:
            mac = getattr(entry, "mac", None)
            model = TopicModel(entry.topic or entry.cn, args.full_topic, prefixes, None, mac)
            seen[entry.cn] = model
    return sorted(seen.items())


def _print_commands(devices: list[tuple[str, TopicModel]], command: str, fingerprint: str) -> None:
    if not devices:
        print("# No device has a valid certificate from this CA: nothing to send.")
    print("# Per device, in its web console or as an MQTT message (each device restarts once):")
    for name, model in devices:
        topic = model.command_topic(command) if _exact(model) else f"(topic of {name})"
        print(f"# {name}: {topic}")
        print(f"{command} {fingerprint}")


def _exact(model: TopicModel) -> bool:
    """The command topic is known exactly (no unknown %hostname% or %id%)."""
    return "%hostname%" not in model.full_topic and (
        "%id%" not in model.full_topic or bool(model.mac)
    )


def _send(
    args: argparse.Namespace,
    store: PkiStore,
    passphrase: str,
    devices: list[tuple[str, TopicModel]],
    command: str,
    fingerprint: str,
) -> int:
    """--apply: publish, wait for each device's echo; exit 1 if any did not answer."""
    if not args.apply:
        return 0
    unknown = [name for name, model in devices if not _exact(model)]
    if unknown:
        raise CliError(
            "--apply needs each device's exact command topic; this FullTopic uses "
            f"%hostname% or %id%, unknown for: {', '.join(unknown)}. Send the commands above "
            "by hand instead."
        )
    from .mqtt_apply import MqttTarget, send_and_confirm  # noqa: PLC0415 (paho only here)

    target = MqttTarget(
        host=args.mqtt_host or store_host(store),
        port=args.mqtt_port,
        plain=args.mqtt_plain,
        username=args.mqtt_username,
        password=os.environ.get(MQTT_PASSWORD_ENV),
        timeout=args.timeout,
    )
    jobs = [(name, model, command, fingerprint) for name, model in devices]
    missing = send_and_confirm(store, passphrase, target, jobs)
    confirmed = len(devices) - len(missing)
    print(f"Sent {command} to {len(devices)} device(s); {confirmed} confirmed it.")
    if missing:
        print("No confirmation from: " + ", ".join(missing) + ". Send it to them again "
              "before the next step (offline devices take it when they are back).")  # fmt: skip
        return 1
    return 0


def store_host(store: PkiStore) -> str:
    cert = store.broker_certificate()
    if cert is None:
        raise CliError("No broker certificate yet: run `broker HOST` first.")
    return common_name(cert)


def _current_rsa(store: PkiStore) -> str:
    cert = store.broker_certificate()
    if cert is None:
        raise CliError("No broker certificate yet: run `broker HOST` first.")
    if not has_fingerprint(cert):
        raise CliError(EC_FINGERPRINT_MESSAGE)
    return tasmota_fingerprint(cert)


def cmd_stage(args: argparse.Namespace, store: PkiStore) -> int:
    _current_rsa(store)
    passphrase = read_passphrase(args)
    key, made = broker_keys.stage(store, passphrase, restage=args.restage)
    fingerprint = tasmota_fingerprint(key.public_key())
    state = "Staged a new broker key" if made else "The staged broker key (unchanged)"
    print(f"# {state}. Its fingerprint: {fingerprint}")
    devices = enrolled_devices(store, args)
    _print_commands(devices, "MqttFingerprint2", fingerprint)
    code = _send(args, store, passphrase, devices, "MqttFingerprint2", fingerprint)
    print("# Next, once every device has it: tasmota-tls rotate-broker switch")
    return code


def cmd_switch(args: argparse.Namespace, store: PkiStore) -> int:
    old = _current_rsa(store)
    credential = broker_keys.switch(store, read_passphrase(args), args.days)
    print(f"Issued broker certificate {credential.entry.cn} (serial {credential.entry.serial}) "
          "for the staged key.")  # fmt: skip
    print(f"New fingerprint {tasmota_fingerprint(credential.certificate)} (was {old}).")
    if args.out:
        write_broker_files(Path(args.out), store, credential)
    print("Next: `tasmota-tls mosquitto --out DIR`, install the bundle and restart the broker;")
    print("devices reconnect on MqttFingerprint2. Then: tasmota-tls rotate-broker retire")
    return 0


def cmd_retire(args: argparse.Namespace, store: PkiStore) -> int:
    fingerprint = _current_rsa(store)
    passphrase = read_passphrase(args)
    if broker_keys.staged_key(store, passphrase) is not None:
        raise CliError("A staged key is not switched to yet: run `rotate-broker switch` first.")
    devices = enrolled_devices(store, args)
    print(f"# The current broker key's fingerprint: {fingerprint}")
    _print_commands(devices, "MqttFingerprint1", fingerprint)
    code = _send(args, store, passphrase, devices, "MqttFingerprint1", fingerprint)
    revoked = broker_keys.retire(store, passphrase)
    for entry in revoked:
        print(f"Revoked the old broker certificate {entry.serial} (superseded).")
    return code


def register(add: AddCommand) -> None:
    """Add `rotate-broker` and its three steps to the `tasmota-tls` parser."""
    rotate = add("rotate-broker", _usage,
                 "Give the broker a NEW key without cutting off devices pinned by fingerprint: "
                 "stage, then switch, then retire.")  # fmt: skip
    steps = rotate.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, handler, text in (
        ("stage", cmd_stage, "Make the next key (once) and give devices its MqttFingerprint2."),
        ("switch", cmd_switch, "Re-issue the broker certificate for the staged key."),
        ("retire", cmd_retire, "Give devices the new key as MqttFingerprint1; revoke the old."),
    ):
        step = steps.add_parser(name, help=text, description=text)
        step.set_defaults(handler=handler)
        add_passphrase_option(step)
        if name == "switch":
            days = f"validity of the new certificate (default {BROKER_DAYS})"
            step.add_argument("--days", type=int, default=BROKER_DAYS, help=days)
            step.add_argument("--out", help="write ca.crt, broker.crt, broker.key here")
            continue
        if name == "stage":
            restage = "replace an already staged key (devices must be staged again)"
            step.add_argument("--restage", action="store_true", help=restage)
        step.add_argument("--full-topic", default=DEFAULT_FULL_TOPIC, help="Tasmota FullTopic")
        step.add_argument("--prefixes", default="cmnd,stat,tele", help="Tasmota prefixes")
        step.add_argument("--apply", action="store_true",
                          help="send the commands over MQTT (needs paho-mqtt) and wait for "
                          "each device's reply")  # fmt: skip
        step.add_argument("--mqtt-host", help="broker to send through (default: its CN)")
        step.add_argument("--mqtt-port", type=int, default=DEFAULT_TLS_PORT,
                          help=f"the broker's port (default {DEFAULT_TLS_PORT})")  # fmt: skip
        step.add_argument("--mqtt-plain", action="store_true",
                          help="a plaintext listener; default: TLS with the store's CA and "
                          "its ha-client certificate")  # fmt: skip
        user = f"username (the password comes from {MQTT_PASSWORD_ENV})"
        step.add_argument("--mqtt-username", help=user)
        step.add_argument("--timeout", type=float, default=15.0,
                          help="seconds to wait for the devices' replies")  # fmt: skip


def _usage(args: argparse.Namespace, store: PkiStore) -> int:
    raise CliError("Give a step: stage, switch or retire.")
