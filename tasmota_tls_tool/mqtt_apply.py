"""Send a fingerprint command to each device over MQTT and wait for its echo (paho-mqtt).

Imported only for `rotate-broker --apply`, so the tool itself needs only `cryptography`.
Tasmota answers `MqttFingerprint2 <hex>` on <stat prefix>/<topic>/RESULT with
{"MqttFingerprint2":"AA BB .."} (xdrv_02_9_mqtt.ino, CmndMqttFingerprint), then restarts.
By default the connection is TLS with the store's CA and Home Assistant's client
certificate (`tasmota-tls ha-client`); its key is written unencrypted only into a
private temporary folder, removed as soon as the TLS context has loaded it.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from custom_components.tasmota_tls.pki.errors import PkiError
from custom_components.tasmota_tls.pki.fsutil import KEY_MODE, atomic_write
from custom_components.tasmota_tls.pki.keys import plain_pem
from custom_components.tasmota_tls.pki.store import PkiStore
from custom_components.tasmota_tls.pki.topics import TopicModel

Job = tuple[str, TopicModel, str, str]  # device name, topics, command, fingerprint


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    plain: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0


def _client(target: MqttTarget, store: PkiStore, passphrase: str) -> Any:
    try:
        import paho.mqtt.client as mqtt  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise PkiError(
            "--apply needs paho-mqtt (Debian: apt-get install python3-paho-mqtt); without it, "
            "send the printed commands yourself.",
            code="paho_missing",
        ) from None
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tasmota-tls-rotate")
    else:  # paho-mqtt 1.x (Debian 12)
        client = mqtt.Client(client_id="tasmota-tls-rotate")
    if target.username:
        client.username_pw_set(target.username, target.password)
    if not target.plain:
        cert = store.ha_client_certificate()
        if cert is None:
            raise PkiError(
                "TLS needs Home Assistant's client certificate: run `tasmota-tls ha-client` "
                "first, or use --mqtt-plain.",
                code="no_ha_client",
            )
        key = store.ha_client_key(passphrase)
        with tempfile.TemporaryDirectory(prefix="tasmota-tls-") as folder:  # 0700
            files = Path(folder)
            atomic_write(files / "ca.crt", store.ca_certificate().public_bytes(_PEM))
            atomic_write(files / "client.crt", cert.public_bytes(_PEM))
            atomic_write(files / "client.key", plain_pem(key), KEY_MODE)
            client.tls_set(
                ca_certs=str(files / "ca.crt"),
                certfile=str(files / "client.crt"),
                keyfile=str(files / "client.key"),
            )
    return client


_PEM = serialization.Encoding.PEM


def send_and_confirm(
    store: PkiStore, passphrase: str, target: MqttTarget, jobs: list[Job]
) -> list[str]:
    """Publish every command; return the names of devices that did not echo it in time."""
    client = _client(target, store, passphrase)
    expected = {
        model.stat_topic("RESULT"): (name, command, fp) for name, model, command, fp in jobs
    }
    confirmed: set[str] = set()
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        wanted = expected.get(message.topic)
        if wanted is None:
            return
        name, command, fingerprint = wanted
        try:
            reply = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(reply, dict) and str(reply.get(command, "")).upper() == fingerprint:
            with lock:
                confirmed.add(name)

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    try:
        client.connect(target.host, target.port, keepalive=30)
    except OSError as err:
        raise PkiError(
            f"Cannot reach the broker at {target.host}:{target.port}: {err}.", code="mqtt_failed"
        ) from err
    client.loop_start()
    try:
        _wait(client.is_connected, target.timeout, "connect to", target)
        if expected:
            client.subscribe([(topic, 0) for topic in expected])
            _wait(subscribed.is_set, target.timeout, "subscribe at", target)
        for _name, model, command, fingerprint in jobs:
            client.publish(model.command_topic(command), fingerprint).wait_for_publish()
        deadline = time.monotonic() + target.timeout
        while time.monotonic() < deadline:
            with lock:
                if len(confirmed) == len(jobs):
                    break
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return sorted(name for name, *_ in jobs if name not in confirmed)


def _wait(done: Any, timeout: float, what: str, target: MqttTarget) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise PkiError(
                f"Could not {what} the broker at {target.host}:{target.port} in {timeout:g} s "
                "(check the port, TLS and credentials).",
                code="mqtt_failed",
            )
        time.sleep(0.05)
