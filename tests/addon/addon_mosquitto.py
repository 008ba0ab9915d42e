"""A real Mosquitto configured the way the Mosquitto add-on (7.1.0) configures itself.

What its init script (rootfs/etc/cont-init.d/mosquitto.sh) and template
(rootfs/usr/share/tempio/mosquitto.gtpl) do at every start, rendered from the options:
- the system users homeassistant and addons get random passwords, kept across restarts
  (the add-on's /data/system_user.json), then every login of ``logins``;
- TLS is on only when certfile and keyfile exist in /ssl; cafile falls back to certfile;
- listeners 1883 (mqtt) and 1884 (websockets), and with TLS 8883 and 8884 with the same
  cafile/certfile/keyfile/require_certificate: one require_certificate for both;
- with customize active, ``include_dir /share/<folder>`` before the listeners, where the
  template has had it since add-on 6.0 (7.1.0 included). The pull requests that moved it
  to the end (#4573, #4574) were closed unmerged, 7.1.0 added log options instead
  (#4589); ``CUSTOMIZE_LAST`` renders the proposed order.
  Either way a file read by include_dir starts outside every listener (Mosquitto does not
  carry the current listener into it): a listener option there (certfile, require_
  certificate, use_identity_as_username, ...) makes Mosquitto create its default listener
  on 1883, which in the add-on collides with its own ``listener 1883`` ("Address already
  in use", #4595). It never reaches 8883 or 8884. Our tasmota-tls.conf holds only
  ``acl_file``, a global option (the add-on sets no per_listener_settings), so it means
  the same wherever include_dir stands;
- the Mosquitto of the testing root is 2.1.2, the one add-on 7.x ships.

What stands in for the add-on's auth plugin (mosquitto-go-auth with its files and HTTP
backends): a password_file with the same users and ``allow_anonymous false``, so every
client must log in, certificate or not.

What this stand-in cannot show:
- the auth plugin itself: Home Assistant users logging in through its HTTP backend, its
  auth and ACL cache (300 s plus up to 30 s; here a removed login is refused from the
  restart on), and on 7.x its ACL and superuser answers coming before Mosquitto's
  acl_file (every logged-in user may then do everything: README). Here the ACL is
  Mosquitto's acl_file alone, as on add-on 6.x;
- the fixed ports: the listeners are on free loopback ports (service.PORT_MAP maps 1883,
  1884, 8883 and 8884 to them), so the #4595 collision above does not happen here, and
  reproducing it would need Mosquitto's default listener on port 1883 of every
  interface;
- the rest of its template: persistence in /data, log_type/log_dest/debug,
  max_queued_messages; ``password_pre_hashed`` logins (passwords are hashed here);
- the container: no s6 services, nginx or watchdog; a restart is a synchronous stop and
  start, and a Mosquitto that does not start fails the Supervisor's restart call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from tests.helpers.mosquitto import MosquittoBroker, free_port

CUSTOMIZE_LAST = False


def password_line(username: str, password: str) -> str:
    """A Mosquitto password_file line ($6$: SHA-512 over password and salt)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{username}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class AddonMosquitto:
    """The add-on's container: /data, its view of /ssl and /share, and its broker."""

    def __init__(self, root: Path, ssl_dir: Path, share_dir: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.ssl_dir, self.share_dir = ssl_dir, share_dir
        self.broker: MosquittoBroker | None = None
        self.rendered: str = ""
        # The TLS listeners' ports, known before TLS is first switched on.
        self.tls_ports = {"tls_port": free_port(), "wss_port": free_port()}

    @property
    def running(self) -> bool:
        return self.broker is not None and self.broker.running

    def system_users(self) -> dict[str, str]:
        path = self.data / "system_user.json"
        if not path.exists():
            users = {
                name: {"password": secrets.token_urlsafe(32)}
                for name in ("homeassistant", "addons")
            }
            path.write_text(json.dumps(users))
        return {name: item["password"] for name, item in json.loads(path.read_text()).items()}

    def render(self, options: dict[str, Any]) -> str:
        lines = [password_line(name, pw) for name, pw in self.system_users().items()]
        for login in options.get("logins", []):
            lines.append(password_line(login["username"], login["password"]))
        pw = self.data / "pw"
        pw.write_text("\n".join(lines) + "\n")
        os.chmod(pw, 0o600)
        certfile = self.ssl_dir / options["certfile"]
        keyfile = self.ssl_dir / options["keyfile"]
        cafile = self.ssl_dir / str(options.get("cafile") or "")
        ssl = certfile.is_file() and keyfile.is_file()
        if not cafile.is_file():
            cafile = certfile
        customize = options["customize"]
        include = (
            f"include_dir {self.share_dir / customize['folder']}\n" if customize["active"] else ""
        )
        require = "true" if options["require_certificate"] else "false"
        text = (
            "persistence false\n"
            "# stands in for mosquitto-go-auth: every client logs in\n"
            f"password_file {pw}\nallow_anonymous false\n"
        )
        text += "" if CUSTOMIZE_LAST else include
        text += "listener {port} 127.0.0.1\nprotocol mqtt\n"
        text += "listener {ws_port} 127.0.0.1\nprotocol websockets\n"
        if ssl:
            for placeholder, protocol in (("tls_port", "mqtt"), ("wss_port", "websockets")):
                text += (
                    f"listener {self.tls_ports[placeholder]} 127.0.0.1\nprotocol {protocol}\n"
                    f"cafile {cafile}\ncertfile {certfile}\nkeyfile {keyfile}\n"
                    f"require_certificate {require}\n"
                )
        text += include if CUSTOMIZE_LAST else ""
        self.rendered = text
        return text

    def start(self, options: dict[str, Any]) -> None:
        text = self.render(options)
        if self.broker is None:
            self.broker = MosquittoBroker(text, self.root / "mosquitto")
        else:
            self.broker.write_config(text)
        self.broker.start()

    def stop(self) -> None:
        if self.running:
            assert self.broker is not None
            self.broker.stop()

    def restart(self, options: dict[str, Any]) -> None:
        self.stop()
        self.start(options)
