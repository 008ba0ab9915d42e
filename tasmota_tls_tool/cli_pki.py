"""The PKI commands of `tasmota-tls`: the CA, the broker and device certificates, the CRL.

They replace the manual guide's Easy-RSA steps one for one (init, broker, device, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki import dates
from custom_components.tasmota_tls.pki.fingerprint import has_fingerprint, tasmota_fingerprint
from custom_components.tasmota_tls.pki.fsutil import atomic_write
from custom_components.tasmota_tls.pki.limits import (
    BROKER_DAYS,
    CA_DAYS,
    CRL_DAYS,
    DEVICE_DAYS,
    HA_CLIENT_DAYS,
)
from custom_components.tasmota_tls.pki.store import (
    DeviceRequest,
    IssuedCredential,
    PkiStore,
    utcnow,
)
from custom_components.tasmota_tls.pki.topics import TopicModel, parse_prefixes
from custom_components.tasmota_tls.pki.trust_anchor import (
    USER_CONFIG_OVERRIDE_SNIPPET,
    firmware_headers,
)

from .common import (
    BROKER_DAYS_HELP,
    AddCommand,
    CliError,
    read_passphrase,
    write_broker_files,
    write_ca,
    write_credential,
)
from .parallel import forked_signer

# Devices issued per index write when several names are given.
BATCH = 256
EC_CA_NOTE = (
    "Note: in CA mode (SetOption132 0) a device verifies this EC CA's signatures only with "
    "SetOption165 1, on a build with USE_MQTT_TLS_ECDSA (the default since Tasmota v15.1, "
    "ESP8266 and ESP32 alike); without them it fails with TLS error 49. An RSA CA works "
    "with every build."
)


def cmd_init(args: argparse.Namespace, store: PkiStore) -> int:
    org = {k: getattr(args, k) for k in ("country", "province", "city", "org", "ou", "email")}
    org = {k: v for k, v in org.items() if v}
    if org and args.dn_mode != "org":
        raise CliError("Organisation fields need --dn-mode org.")
    passphrase = read_passphrase(args, confirm=True)
    cert = store.init_ca(
        passphrase, args.cn, algo=args.algo, dn_mode=args.dn_mode, org=org, days=args.days
    )
    # The first, empty CRL now: `status` and a broker with crlfile need one from the start.
    crl = store.generate_crl(passphrase)
    print(f"Created CA {args.cn!r} ({args.algo.upper()}) in {store.directory}")
    print(f"Valid until {dates.not_after(cert):%Y-%m-%d}")
    renew_by = dates.next_update(crl)
    print(f"Wrote its first CRL (crl.pem); renew it with `crl` before {renew_by:%Y-%m-%d}")
    if args.algo == "ec":
        print(EC_CA_NOTE)
    return 0


def cmd_import_easyrsa(args: argparse.Namespace, store: PkiStore) -> int:
    rows = store.import_easyrsa(Path(args.path), read_passphrase(args))
    print(f"Imported the CA and {rows} certificate(s) from {args.path} into {store.directory}")
    return 0


def cmd_broker(args: argparse.Namespace, store: PkiStore) -> int:
    """A first broker certificate, or a new one for the SAME key: fingerprints stay valid."""
    before = store.broker_certificate() if store.exists else None
    credential = store.issue_broker(
        read_passphrase(args), args.host, extra_names=args.san, days=args.days, keep_key=True
    )
    _broker_output(args, store, credential, renewed=before is not None)
    return 0


def cmd_renew_broker(args: argparse.Namespace, store: PkiStore) -> int:
    credential = store.renew_broker(read_passphrase(args), days=args.days)
    _broker_output(args, store, credential, renewed=True)
    return 0


def _broker_output(
    args: argparse.Namespace, store: PkiStore, credential: IssuedCredential, *, renewed: bool
) -> None:
    print(f"Issued broker certificate {credential.entry.cn} (serial {credential.entry.serial})")
    if renewed:
        print("Same key as before: every device's MqttFingerprint stays valid.")
    if has_fingerprint(credential.certificate):
        print(f"MqttFingerprint1 {tasmota_fingerprint(credential.certificate)}")
    if args.out:
        write_broker_files(Path(args.out), store, credential)


def _device_output(credential: IssuedCredential, as_json: bool) -> None:
    payloads = credential.payloads
    assert payloads is not None
    if as_json:
        print(
            json.dumps(
                {
                    "name": credential.entry.cn,
                    "topic": credential.entry.topic,
                    "serial": credential.entry.serial,
                    "not_after": credential.entry.not_after.isoformat(),
                    "tlskey1": payloads.tlskey1,
                    "tlskey2": payloads.tlskey2,
                    "der_bytes": payloads.der_bytes,
                    "command_chars": payloads.command_chars,
                    "packet_bytes": payloads.packet_bytes,
                }
            )
        )
        return
    key_command, cert_command = payloads.commands()
    entry = credential.entry
    print(f"# {entry.cn}: serial {entry.serial}, valid until {entry.not_after:%Y-%m-%d},")
    print(f"# {payloads.der_bytes} bytes DER, TLSKey2 command {payloads.command_chars} characters")
    print("# Paste both lines, in this order, into the device's web console:")
    print(key_command)
    print(cert_command)


def _command_topic(args: argparse.Namespace, name: str) -> str:
    # The size guard checks this topic: the firmware's expansion (pki.topics), with the
    # host name and MAC, which the CLI does not know, at their longest.
    try:
        prefixes = parse_prefixes(args.prefixes)
    except ValueError as err:
        raise CliError(f"--prefixes: {err}") from None
    model = TopicModel(args.topic or name, args.full_topic, prefixes, hostname=None, mac=None)
    return model.command_topic("TLSKey2")


def cmd_device(args: argparse.Namespace, store: PkiStore) -> int:
    """One device, or many: each batch is saved in the index before it is printed."""
    if args.topic and len(args.name) > 1:
        raise CliError("--topic names one device's topic; give one name with it.")
    cpus = os.cpu_count() or 1
    if not 1 <= args.workers <= cpus:
        raise CliError(f"--workers must be between 1 and {cpus} (the CPU count of this machine).")
    passphrase = read_passphrase(args)
    requests = [
        DeviceRequest(name, args.topic, _command_topic(args, name), args.days) for name in args.name
    ]
    for start in range(0, len(requests), BATCH):
        batch = requests[start : start + BATCH]
        signer = forked_signer(args.workers) if args.workers > 1 else None
        for credential in store.issue_devices(passphrase, batch, bulk_signer=signer):
            _device_output(credential, args.json)
        sys.stdout.flush()
    return 0


def cmd_renew(args: argparse.Namespace, store: PkiStore) -> int:
    old = store.find(args.name)
    credential = store.renew_device(read_passphrase(args), args.name, days=args.days)
    _device_output(credential, args.json)
    if not args.json:
        print(
            f"# The old certificate {old.serial} stays valid until you revoke it "
            f"(tasmota-tls revoke {old.serial} --reason superseded)."
        )
    return 0


def cmd_trust_anchor(args: argparse.Namespace, store: PkiStore) -> int:
    data, descriptor = firmware_headers(store.ca_certificate())
    out = Path(args.out)
    atomic_write(out / "local_ca_data.h", data.encode())
    atomic_write(out / "local_ca_descriptor.h", descriptor.encode())
    atomic_write(out / "user_config_override.h", USER_CONFIG_OVERRIDE_SNIPPET.encode())
    print(f"Wrote local_ca_data.h, local_ca_descriptor.h and user_config_override.h to {out}")
    print(
        "Copy the two local_ca_*.h files to tasmota/include/ and merge the snippet into "
        "tasmota/user_config_override.h, then build the firmware."
    )
    return 0


def cmd_fingerprint(args: argparse.Namespace, store: PkiStore) -> int:
    cert = store.current_broker_certificate()
    if cert is None:
        raise CliError("No broker certificate yet: run `broker HOST` first.")
    print(tasmota_fingerprint(cert))  # an EC key is refused with the reason
    return 0


def cmd_list(args: argparse.Namespace, store: PkiStore) -> int:
    now = utcnow()
    entries = store.entries()
    if args.json:
        rows = [{**entry.to_json(), "status": entry.current_status(now)} for entry in entries]
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'SERIAL':34} {'KIND':9} {'STATUS':8} {'NOT AFTER':10}  CN")
    for entry in entries:
        print(
            f"{entry.serial:34} {entry.kind:9} {entry.current_status(now):8} "
            f"{entry.not_after:%Y-%m-%d}  {entry.cn}"
        )
    return 0


def cmd_revoke(args: argparse.Namespace, store: PkiStore) -> int:
    entry = store.revoke(read_passphrase(args), args.name, args.reason)
    print(
        f"Revoked {entry.cn} (serial {entry.serial}, reason {entry.reason}); wrote a new crl.pem."
    )
    print("Next: `tasmota-tls mosquitto --out DIR` refreshes the bundle; `tasmota-tls reload`;")
    print("restart the broker if the device is online now: a reload does not close its connection.")
    return 0


def cmd_crl(args: argparse.Namespace, store: PkiStore) -> int:
    crl = store.generate_crl(read_passphrase(args), days=args.days)
    pem = crl.public_bytes(serialization.Encoding.PEM)
    if args.out:
        atomic_write(Path(args.out), pem)
        print(f"Wrote {args.out}; next update {dates.next_update(crl):%Y-%m-%d %H:%M} UTC")
    else:
        sys.stdout.write(pem.decode())
    return 0


def cmd_ha_client(args: argparse.Namespace, store: PkiStore) -> int:
    credential = store.issue_ha_client(read_passphrase(args), args.name, days=args.days)
    print(
        f"Issued Home Assistant client certificate {credential.entry.cn} "
        f"(serial {credential.entry.serial})"
    )
    if args.out:
        out = Path(args.out)
        write_ca(out, store)
        write_credential(out, "ha-client.crt", "ha-client.key", credential)
        print(f"Wrote ca.crt, ha-client.crt and ha-client.key (0600) to {out}")
    return 0


def register(add: AddCommand) -> None:
    """Add the PKI commands to the `tasmota-tls` parser."""
    init = add("init", cmd_init, "Create a new CA (replaces easyrsa init-pki + build-ca).")
    init.add_argument("--cn", required=True, help="the CA's name, e.g. 'Home MQTT CA'")
    init.add_argument(
        "--algo",
        choices=["rsa", "ec"],
        default="rsa",
        help="rsa (RSA-2048, default: every Tasmota build verifies it) or ec (P-256: a "
        "device in CA mode then needs SetOption165 1 and a build with USE_MQTT_TLS_ECDSA, "
        "the default since v15.1 on ESP8266 and ESP32)",
    )
    init.add_argument("--dn-mode", choices=["cn_only", "org"], default="cn_only",
                      help="cn_only: the subject is the CN alone (default); org: also the "
                      "organisation fields below")  # fmt: skip
    for field in ("country", "province", "city", "org", "ou", "email"):
        init.add_argument(f"--{field}", help=f"{field} (with --dn-mode org)")
    init.add_argument("--days", type=int, default=CA_DAYS,
                      help=f"validity of the CA certificate (default {CA_DAYS})")  # fmt: skip

    imp = add("import-easyrsa", cmd_import_easyrsa, "Adopt an existing Easy-RSA pki/ folder.")
    imp.add_argument("path", help="the pki/ folder")

    broker = add("broker", cmd_broker,
                 "Issue the broker's server certificate (RSA-2048). On an existing broker: a "
                 "new certificate for the SAME key, so every MqttFingerprint stays valid "
                 "(a new key: rotate-broker).")  # fmt: skip
    broker.add_argument("host", help="the MqttHost devices use: a DNS name or an IP address")
    broker.add_argument("--san", action="append", default=[], help="an extra DNS name or IP")
    broker.add_argument("--out", help="write ca.crt, broker.crt, broker.key here")
    broker.add_argument("--days", type=int, default=BROKER_DAYS, help=BROKER_DAYS_HELP)

    for name, handler, text in (
        ("device", cmd_device, "Issue a device key and certificate; print the TLSKey commands."),
        ("renew", cmd_renew, "Issue a new key and certificate for a known device."),
    ):
        sub = add(name, handler, text)
        if name == "device":
            sub.add_argument("name", nargs="+", help="device name(s): each certificate's CN")
            sub.add_argument("--topic", help="the device's MQTT topic (default: the name)")
            sub.add_argument("--full-topic", default="%prefix%/%topic%/", help="Tasmota FullTopic")
            sub.add_argument("--prefixes", default="cmnd,stat,tele", help="Tasmota prefixes")
            sub.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                             help="processes that sign when several names are given")  # fmt: skip
        else:
            sub.add_argument("name", help="the device's name (its certificate CN) or serial")
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.add_argument("--days", type=int, default=DEVICE_DAYS,
                         help=f"validity of the certificate (default {DEVICE_DAYS})")  # fmt: skip

    ta = add(
        "trust-anchor",
        cmd_trust_anchor,
        "Write the firmware's trust-anchor headers and user_config_override.h.",
    )
    ta.add_argument("--out", required=True, help="folder for the three files")

    add("fingerprint", cmd_fingerprint,
        "Print the broker's MqttFingerprint1 value (RSA broker keys only: fingerprint "
        "mode, SetOption132 1, needs an RSA broker key).")  # fmt: skip

    renew_text = "Re-issue the broker certificate: same names, same key, new dates."
    renew_broker = add("renew-broker", cmd_renew_broker, renew_text)
    renew_broker.add_argument("--out", help="write ca.crt, broker.crt, broker.key here")
    renew_broker.add_argument("--days", type=int, default=BROKER_DAYS, help=BROKER_DAYS_HELP)

    lst = add("list", cmd_list, "List every certificate the CA issued.")
    lst.add_argument("--json", action="store_true", help="print a JSON list")

    revoke = add("revoke", cmd_revoke, "Revoke a certificate by name or serial; write a new CRL.")
    revoke.add_argument("name", help="certificate CN or serial")
    revoke.add_argument(
        "--reason", default="unspecified", help="unspecified, key_compromise, superseded, ..."
    )

    crl = add("crl", cmd_crl, "Write a fresh CRL (do it well before nextUpdate).")
    crl.add_argument("--out", help="file to write (default: standard output)")
    crl.add_argument("--days", type=int, default=CRL_DAYS, help="days until nextUpdate")

    ha = add("ha-client", cmd_ha_client, "Issue Home Assistant's own MQTT client certificate.")
    ha.add_argument("--name", default="homeassistant", help="its CN, the broker username")
    ha.add_argument("--out", help="write ca.crt, ha-client.crt, ha-client.key here")
    ha.add_argument("--days", type=int, default=HA_CLIENT_DAYS,
                    help=f"validity of the certificate (default {HA_CLIENT_DAYS})")  # fmt: skip
