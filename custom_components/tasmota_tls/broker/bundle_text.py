"""The texts of the broker bundle: mosquitto.conf snippet and README."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .acl import DeviceTopics
from .crl_status import CrlStatus

# ESP8266 Tasmota offers only the first; the others serve ordinary TLS 1.2 clients.
CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
REFRESH_EVERY_DAYS = 7


@dataclass(frozen=True)
class ListenerSettings:
    """Everything the configuration and README are rendered from."""

    layout: str
    port: int
    bind_address: str | None
    bootstrap_port: int
    paths: dict[str, str]  # role -> absolute path on the broker host
    ha_identities: tuple[str, ...]
    devices: tuple[DeviceTopics, ...]
    skipped: tuple[str, ...]
    crl: CrlStatus
    broker_host: str
    broker_not_after: dt.datetime


def render_conf(s: ListenerSettings) -> str:
    p = s.paths
    listen = f"listener {s.port} {s.bind_address}" if s.bind_address else f"listener {s.port}"
    return f"""\
# Mosquitto TLS listener for Tasmota devices, written by tasmota-tls ({s.layout} layout).
# Regenerate it with `tasmota-tls mosquitto`; changes made here by hand are overwritten.

# A client certificate from the tasmota-tls CA is required; its CN becomes the username.
{listen}
protocol mqtt
cafile {p["ca"]}
certfile {p["cert"]}
keyfile {p["key"]}
crlfile {p["crl"]}
require_certificate true
use_identity_as_username true
# TLS 1.2 at least. Tasmota always offers ECDHE-RSA-AES128-GCM-SHA256 (ECDSA only with
# SetOption165 1 on USE_MQTT_TLS_ECDSA builds).
tls_version tlsv1.2
ciphers {CIPHERS}
# With per_listener_settings false (the default) these two hold for EVERY listener of
# this broker, so every client of the broker needs a block in the ACL file.
allow_anonymous false
acl_file {p["acl"]}

# Bootstrap listener for devices that are not enrolled yet. It is PLAINTEXT, so it is
# off: anything sent over it (a TLSKey1 private key too) can be read on this host.
# Uncomment it only while enrolling over MQTT from this host, then comment it out
# again and reload. Its clients log in with a password (password_file) and need
# their own block in {p["local_acl"]}.
#listener {s.bootstrap_port} 127.0.0.1
#protocol mqtt
#password_file /etc/mosquitto/passwd
"""


def _files_table(s: ListenerSettings, owner: str) -> str:
    rows = [
        ("conf", "Mosquitto configuration", "0644", "root"),
        ("acl", "ACL (regenerated)", "0644", "root"),
        ("ca", "CA certificate", "0644", "root"),
        ("cert", "broker certificate", "0644", "root"),
        ("key", "broker private key", "0600", owner),
        ("crl", "certificate revocation list", "0644", "root"),
    ]
    lines = ["| on the broker | what | mode | owner |", "|---|---|---|---|"]
    lines += [f"| `{s.paths[r]}` | {what} | {mode} | {who} |" for r, what, mode, who in rows]
    return "\n".join(lines)


def _install(s: ListenerSettings) -> str:
    p = s.paths
    if s.layout == "server":
        return f"""\
## Install (Debian, mosquitto package)

The folders in this bundle mirror the broker's file system. Mosquitto starts as root
and then runs as user `mosquitto`, who must be able to read every file, the key too:

```sh
sudo cp -r etc/mosquitto/. /etc/mosquitto/
sudo chown mosquitto:mosquitto {p["key"]}
sudo chmod 0600 {p["key"]}
sudo systemctl restart mosquitto   # first time: a new listener needs a restart
```

Debian's /etc/mosquitto/mosquitto.conf already reads /etc/mosquitto/conf.d/.
Later updates (new ACL, new CRL) need only `sudo systemctl reload mosquitto`
(or `tasmota-tls reload`)."""
    if s.layout == "ha-addon":
        return f"""\
## Install (Home Assistant's Mosquitto add-on)

1. Copy `ssl/tasmota-tls/` to Home Assistant's `/ssl/tasmota-tls/` and
   `share/mosquitto/` to `/share/mosquitto/` (Samba or SSH add-on).
2. In the add-on's configuration set `customize: {{active: true, folder: mosquitto}}`.
3. The add-on's own TLS listener must stay off, because this bundle's listener uses
   port {s.port}: the add-on opens 8883/8884 itself when its `certfile` and `keyfile`
   exist in /ssl (defaults fullchain.pem / privkey.pem). If they exist (e.g. for Home
   Assistant's HTTPS), set the add-on's `certfile`/`keyfile` options to names that do not
   exist; otherwise Mosquitto fails to start with two listeners on one port.
   Only the ports the add-on maps (1883, 1884, 8883, 8884) reach the network.
4. Restart the add-on. Later updates also need an add-on restart (it has no reload).

The add-on runs Mosquitto as root, so file owners do not matter there.

### What the add-on can and cannot do
- `use_identity_as_username` works: on this listener Mosquitto takes the certificate's
  CN as the username and does not ask the add-on's auth plugin (mosquitto-go-auth) for
  a password.
- The ACL file is global: it also governs the add-on's password clients on 1883/1884.
  This bundle keeps `homeassistant` and `addons` at full access, as the add-on needs;
  give any other login (Zigbee2MQTT, Node-RED, ...) a block in `{p["local_acl"]}`.
  An existing `acl_file` line in /share/mosquitto must go: Mosquitto accepts only one.
- Add-on 6.x (Mosquitto 2.0) checks this ACL file before the auth plugin, so device
  isolation holds. Add-on 7.x (Mosquitto 2.1) asks mosquitto-go-auth first, and the
  add-on answers its superuser check with "yes" for every user: every client, devices
  included, may then read and write everything and the ACL file has no effect. On 7.x,
  run a separate Mosquitto (layout `server` or `folder`) if devices must be isolated.
- Revocation works (crlfile), but taking a new CRL or ACL needs an add-on restart."""
    folder = p["conf"].rsplit("/", 1)[0]
    return f"""\
## Install (a remote broker)

This folder is self-contained. Its configuration expects to live in
`{folder}/` (regenerate with `--install-dir` for another place):

```sh
scp -r . broker:/tmp/tasmota-tls && ssh broker
sudo mkdir -p {folder}
sudo cp -r /tmp/tasmota-tls/. {folder}/
sudo chown mosquitto:mosquitto {p["key"]}
sudo chmod 0600 {p["key"]}
echo "include_dir {folder}" | sudo tee /etc/mosquitto/conf.d/tasmota-tls.conf
sudo systemctl restart mosquitto
```

`include_dir` reads only `*.conf`, so the ACL and README next to it are not parsed.
The broker runs as user `mosquitto` after start and must be able to read every file."""


def _acl_section(s: ListenerSettings) -> str:
    devices = (
        "\n".join(
            f"- `{d.name}`: reads `{'`, `'.join(d.read_filters())}`; "
            f"writes `{'`, `'.join(d.write_filters())}`"
            for d in s.devices
        )
        or "- (no devices yet: regenerate after enrolling devices)"
    )
    skipped = (
        "\n\nLeft out (no valid certificate in the store): " + ", ".join(s.skipped)
        if s.skipped
        else ""
    )
    return f"""\
## Who may do what (ACL)

- {", ".join(f"`{i}`" for i in s.ha_identities)}: everything.
- Each device (username = its certificate CN): read its own command topic, its group
  topics and its fallback topic; write its own stat and tele topics, its discovery topic
  `tasmota/discovery/<MAC>/` and the empty `POWER` query Tasmota sends at connect.
- Any other identity: nothing.

{devices}{skipped}

Own rules go into `{s.paths["local_acl"]}`; the bundle appends it to the ACL when it is
regenerated."""


def _revocation(s: ListenerSettings) -> str:
    if s.layout == "ha-addon":
        reload = "restart the Mosquitto add-on (`ha addons restart core_mosquitto`)"
        restart = "The add-on restart in step 3 already closes every connection."
    else:
        reload = "`tasmota-tls reload` (local broker: SIGHUP) or `sudo systemctl reload mosquitto`"
        restart = (
            "To close the connection as well, restart the broker: "
            "`sudo systemctl restart mosquitto`. Every client reconnects within seconds; "
            "the revoked one is refused. Do this after a key compromise in any case: the "
            "ACL silences a revoked certificate only when its name has no other valid "
            "certificate (after a renewal it has)."
        )
    return f"""\
## Revoking a device

1. `tasmota-tls --pki DIR revoke NAME` writes a new CRL into the store.
2. `tasmota-tls --pki DIR mosquitto --out DIR ...` regenerates the bundle: the new CRL,
   and an ACL without the revoked device (only these and this README change). Copy the
   changed files to the broker.
3. Make the broker read them: {reload}. From now on the device's TLS handshake fails.
4. A device that is online when it is revoked keeps its connection through a reload, but
   with the new ACL it can neither receive nor publish anything. {restart}"""


def _crl_upkeep(s: ListenerSettings) -> str:
    until = f"{s.crl.next_update:%Y-%m-%d %H:%M} UTC" if s.crl.next_update else "never"
    refresh = f"{s.crl.refresh_by:%Y-%m-%d}" if s.crl.refresh_by else "-"
    return f"""\
## Keeping the CRL fresh

Mosquitto refuses EVERY client once the CRL's nextUpdate has passed. This CRL is valid
until {until}; refresh it by {refresh} at the latest, better every {REFRESH_EVERY_DAYS} days:

```sh
tasmota-tls --pki DIR crl --out {s.paths["crl"]} && tasmota-tls --pki DIR reload
```

`tasmota-tls --pki DIR status --crl {s.paths["crl"]}` warns (exit code 1) once less than
a third of the CRL's period is left, and fails (exit code 3) when it has expired."""


def render_readme(s: ListenerSettings) -> str:
    owner = "root" if s.layout == "ha-addon" else "mosquitto"
    return f"""\
# Mosquitto bundle for Tasmota devices

Written by tasmota-tls ({s.layout} layout). Devices connect to `{s.broker_host}` port
{s.port} with TLS 1.2 and their own client certificate; the broker certificate is valid
until {s.broker_not_after:%Y-%m-%d}.

{_files_table(s, owner)}

{_install(s)}

{_acl_section(s)}

{_revocation(s)}

{_crl_upkeep(s)}

## Bootstrap listener

The configuration keeps a plaintext listener on 127.0.0.1:{s.bootstrap_port}, commented
out, for enrolling a device over MQTT from the broker host. Leave it off otherwise.
"""
