"""TLSKey with the firmware's checks, and the size limits of MQTT and HTTP commands."""

from __future__ import annotations

import base64
import os
import urllib.parse

import aiohttp

from tests.helpers.mosquitto import MosquittoBroker
from virtual_tasmota import DeviceFaults, VirtualDevice

from .helpers import FleetFactory, Observer, send

ERROR = {"Command": "Error"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_tlskey_checks_like_the_firmware(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    assert await send(observer, device, "TLSKey") == {"TLSKey1": -1, "TLSKey2": -1}
    # The certificate needs the key first.
    assert await send(observer, device, "TLSKey2", b64(os.urandom(600))) == ERROR
    # The key is exactly 32 bytes; PEM or DER keys are refused.
    assert await send(observer, device, "TLSKey1", b64(os.urandom(31))) == ERROR
    assert await send(observer, device, "TLSKey1", b64(os.urandom(121))) == ERROR
    assert any("TLSKey: Certificate must be 32 bytes: 121." in line for line in device.events)
    assert await send(observer, device, "tlskey1", b64(os.urandom(32))) == {
        "TLSKey1": 32,
        "TLSKey2": -1,
    }
    # More than 256 bytes of certificate, and it must fit the 1 KB slot with the key.
    assert await send(observer, device, "TLSKey2", b64(os.urandom(256))) == ERROR
    assert await send(observer, device, "TLSKey2", b64(os.urandom(257))) == {
        "TLSKey1": 32,
        "TLSKey2": 257,
    }
    # Over 876 bytes cannot travel in one MQTT packet; the slot limit is checked on the console.
    [too_big] = device.execute("TLSKey2 " + b64(os.urandom(961)))
    assert too_big.payload == '{"Command":"Error"}'
    [fits] = device.execute("TLSKey2 " + b64(os.urandom(960)))
    assert fits.payload == '{"TLSKey1":32,"TLSKey2":960}'
    assert device.settings.tlskey2 is not None and len(device.settings.tlskey2) == 960
    # A wrong key changes nothing; writing a key erases the whole slot, certificate included.
    assert await send(observer, device, "TLSKey1", b64(os.urandom(33))) == ERROR
    assert device.settings.tlskey2 is not None and len(device.settings.tlskey2) == 960
    assert await send(observer, device, "TLSKey1", b64(os.urandom(32))) == {
        "TLSKey1": 32,
        "TLSKey2": -1,
    }
    assert await send(observer, device, "TLSKey2", b64(os.urandom(700))) == {
        "TLSKey1": 32,
        "TLSKey2": 700,
    }
    assert await send(observer, device, "TLSKey", "0") == {"TLSKey1": -1, "TLSKey2": -1}
    assert device.settings.tlskey1 is None and device.settings.tlskey2 is None
    # The key never reaches the log.
    assert all(b64(device.settings.tlskey1 or b"x") not in line for line in device.events)


async def test_stock_build_has_no_tlskey(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port, faults=DeviceFaults(no_tlskey=True))).devices[
        0
    ]
    assert await send(observer, device, "TLSKey1", b64(os.urandom(32))) == {"Command": "Unknown"}
    assert device.settings.tlskey1 is None


def publish_size(topic: str, payload_len: int) -> int:
    """Bytes of a QoS 0 PUBLISH packet, computed here independently of the simulator."""
    remaining = 2 + len(topic) + payload_len
    return 1 + (1 if remaining < 128 else 2) + remaining


async def test_publish_over_1200_bytes_is_dropped_silently(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    await send(observer, device, "TLSKey1", b64(os.urandom(32)))
    topic = f"cmnd/{device.topic}/TLSKey2"

    def payload_for_packet(size: int) -> str:
        length = next(n for n in range(1400) if publish_size(topic, n) == size)
        text = b64(os.urandom(length))[
            :length
        ]  # base64 text cut to length; the device decodes what it can
        assert publish_size(topic, len(text)) == size
        return text

    mark = observer.mark()
    observer.publish(topic, payload_for_packet(1201))
    # The next command's answer proves the oversized one was read, and dropped without a reply.
    assert await send(observer, device, "TLSKey") == {"TLSKey1": 32, "TLSKey2": -1}
    assert len(observer.since(mark, f"stat/{device.topic}/RESULT")) == 1
    assert any("Dropped a 1201 byte packet" in line for line in device.events)

    accepted = payload_for_packet(1200)
    reply = await send(observer, device, "TLSKey2", accepted)
    assert reply == {"TLSKey1": 32, "TLSKey2": len(accepted) // 4 * 3}  # 1200 bytes: processed


async def http_get(device: VirtualDevice, **query: str) -> tuple[int, dict[str, object]]:
    url = f"http://{device.ip}:{device.http_port}/cm?" + urllib.parse.urlencode(
        query, quote_via=urllib.parse.quote
    )
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_http_cm_answers_like_mqtt_and_refuses_1200_characters(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleets = await fleet_factory(plain_broker.port, count=2)
    device, other = fleets.devices
    assert device.ip != other.ip and device.http_port == other.http_port
    status, body = await http_get(device, cmnd="Status 6")
    assert status == 200
    assert body["StatusMQT"]["MqttClient"] == f"DVES_{device.mac[-6:]}"  # type: ignore[index]
    status, body = await http_get(other, cmnd="Status 6")
    assert body["StatusMQT"]["MqttClient"] == f"DVES_{other.mac[-6:]}"  # type: ignore[index]

    status, body = await http_get(device, cmnd="TLSKey1 " + b64(os.urandom(32)))
    assert body == {"TLSKey1": 32, "TLSKey2": -1}
    # "TLSKey2 " + base64: 1199 characters pass, 1200 are refused before anything runs.
    der = os.urandom(885)
    command = "TLSKey2 " + b64(der)
    assert len(command) == 1188
    status, body = await http_get(device, cmnd=command + " " * 11)
    assert body == {"TLSKey1": 32, "TLSKey2": 885}
    status, body = await http_get(device, cmnd=command + " " * 12)
    assert body == {"WARNING": "Enter command cmnd="}
    assert any("Refused a command of 1200 characters" in line for line in device.events)
    # HTTP commands are published on MQTT as well.
    reply = await observer.wait_for(
        f"stat/{device.topic}/RESULT", where=lambda m: b"885" in m.payload
    )
    assert reply.json() == {"TLSKey1": 32, "TLSKey2": 885}


async def test_http_web_password(
    plain_broker: MosquittoBroker, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port, web_password="s3cret")).devices[0]
    status, body = await http_get(device, cmnd="MqttHost")
    assert (status, body) == (401, {"WARNING": "Need user=<username>&password=<password>"})
    status, body = await http_get(device, user="admin", password="wrong", cmnd="MqttHost")
    assert status == 401
    status, body = await http_get(device, user="admin", password="s3cret", cmnd="MqttHost")
    assert (status, body) == (200, {"MqttHost": "127.0.0.1"})


async def test_unencoded_plus_in_http_breaks_base64_like_on_the_device(
    plain_broker: MosquittoBroker, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    key = next(k for k in iter(lambda: os.urandom(32), None) if "+" in b64(k))
    url = f"http://{device.ip}:{device.http_port}/cm?cmnd=TLSKey1%20{b64(key)}"  # '+' left as is
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert await response.json(content_type=None) == {"Command": "Error"}
    _, body = await http_get(device, cmnd="TLSKey1 " + b64(key))  # properly encoded
    assert body == {"TLSKey1": 32, "TLSKey2": -1}
    assert device.settings.tlskey1 == key
