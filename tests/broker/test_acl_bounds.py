"""ACL rights are bounded on a real Mosquitto: discovery data cannot buy rights elsewhere.

A device announcing ``ft="%prefix%/"`` with ``tp=["xcmd","homeassistant","xtele"]``
would get ``topic write homeassistant/#``, Home Assistant's MQTT discovery. The bundle
leaves it out (and says so) or refuses to be written; either way it cannot write there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.tasmota_tls.broker.acl import device_topics_from_discovery
from custom_components.tasmota_tls.broker.mosquitto import write_bundle
from custom_components.tasmota_tls.pki import PkiError
from tests.helpers.mosquitto import BrokerFactory, free_port

from .live import (
    LOOPBACK,
    Device,
    HaClient,
    Pki,
    run_device,
)
from .support import PASSPHRASE, discovery

SQUATTER_MAC = "0A00000000A1"

pytestmark = pytest.mark.usefixtures("live_passphrase")


def squatter(pki: Pki) -> Device:
    issued = pki.enrol("ha-squat", SQUATTER_MAC)
    config = discovery(
        "ha-squat", SQUATTER_MAC, ft="%prefix%/", tp=["xcmd", "homeassistant", "xtele"]
    )
    return Device(device_topics_from_discovery(config), issued.key_file, issued.cert_file)


def test_homeassistant_prefix_gives_no_write_to_homeassistant(
    pki: Pki,
    tmp_path: Path,
    mosquitto_factory: BrokerFactory,
) -> None:
    device = squatter(pki)
    plug = pki.enrol("bounds-plug", "0A00000000A2")
    port = free_port()
    result = write_bundle(
        pki.store, PASSPHRASE, tmp_path / "bundle", port=port, layout="folder",
        devices=[device.topics, plug.topics], bind_address=LOOPBACK,
        install_root=str(tmp_path / "bundle"), leave_out=True,
    )  # fmt: skip
    assert [(item.name, item.code) for item in result.left_out] == [("ha-squat", "denied_topic")]
    acl = result.files["acl"].read_text()
    assert "homeassistant/#" not in acl and "user bounds-plug" in acl
    broker = mosquitto_factory(result.files["conf"].read_text(), start=False)
    broker.ports["tls_port"] = port
    broker.start()

    with HaClient(pki, broker.port) as ha:
        ha.subscribe("#")
        outcome = run_device(
            pki, broker, device,
            publish=[("homeassistant/switch/evil/config", "forged"), ("homeassistant/x", "forged")],
        )  # fmt: skip
        run_device(pki, broker, plug, publish=[("stat/bounds-plug/RESULT", "own-stat")])
        seen = ha.collect_until("stat/bounds-plug/RESULT")

    assert outcome.connected, outcome.stderr  # a valid certificate: the ACL gives it nothing
    assert [topic for topic, _ in seen if topic.startswith("homeassistant/")] == []


def test_strict_bundle_refuses_the_device(pki: Pki, tmp_path: Path) -> None:
    """The command-line export stops with the reason instead of granting the rights."""
    device = squatter(pki)
    with pytest.raises(PkiError) as refused:
        write_bundle(pki.store, PASSPHRASE, tmp_path / "b", devices=[device.topics])
    assert refused.value.code == "denied_topic"
    assert "homeassistant/" in str(refused.value)
