"""A virtual device on a real Mosquitto behaves like Tasmota: LWT, discovery, topics, restarts."""

from __future__ import annotations

import re

from tests.helpers.mosquitto import MosquittoBroker, connected_line, disconnected_line

from .helpers import FleetFactory, Observer, Retained, send


async def test_connect_publishes_online_discovery_and_subscribes(
    plain_broker: MosquittoBroker,
    observer: Observer,
    fleet_factory: FleetFactory,
    retained: Retained,
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    mac = device.mac
    assert len(mac) == 12 and mac == mac.upper()
    assert device.topic == f"tasmota_{mac[-6:]}"

    lwt = await retained(plain_broker.port, f"tele/{device.topic}/LWT")
    assert lwt.text == "Online"
    config = await retained(plain_broker.port, f"tasmota/discovery/{mac}/config")
    body = config.json()
    for field in (
        "ip",
        "dn",
        "fn",
        "hn",
        "mac",
        "md",
        "ty",
        "if",
        "ofln",
        "onln",
        "state",
        "sw",
        "t",
        "ft",
        "tp",
        "rl",
        "swc",
        "swn",
        "btn",
        "so",
        "lk",
        "lt_st",
        "sho",
        "sht",
        "ver",
    ):
        assert field in body, field
    assert body["ip"] == device.ip and body["ip"].startswith("127.")
    assert body["mac"] == mac and body["t"] == device.topic and body["sw"] == "14.5.0"
    assert (body["ft"], body["tp"], body["ofln"], body["onln"]) == (
        "%prefix%/%topic%/",
        ["cmnd", "stat", "tele"],
        "Offline",
        "Online",
    )
    sensors = await retained(plain_broker.port, f"tasmota/discovery/{mac}/sensors")
    assert sensors.json()["ver"] == 1

    # The client id is the firmware's default, DVES_ and the last six hex digits of the MAC,
    # and the connection comes from the device's own loopback address.
    ip = re.escape(device.ip)
    assert plain_broker.find_log(rf"New client connected from {ip}:\d+ as DVES_{mac[-6:]} ")

    # Commands are case-insensitive and answered on stat/<topic>/RESULT.
    assert await send(observer, device, "mqtthost") == {"MqttHost": "127.0.0.1"}
    assert await send(observer, device, "MQTTPORT") == {"MqttPort": plain_broker.port}
    assert await send(observer, device, "NoSuchCommand") == {"Command": "Unknown"}


async def test_command_topic_is_built_from_full_topic_and_prefixes(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    config = (await observer.wait_for(f"tasmota/discovery/{device.mac}/config")).json()
    command_topic = (
        config["ft"].replace("%prefix%", config["tp"][0]).replace("%topic%", config["t"])
    )
    mark = observer.mark()
    observer.publish(command_topic + "Status", "6")
    reply_topic = config["ft"].replace("%prefix%", config["tp"][1]).replace("%topic%", config["t"])
    status = (await observer.wait_for(reply_topic + "STATUS6", since=mark)).json()
    assert status["StatusMQT"]["MqttHost"] == "127.0.0.1"


async def test_restart_disconnects_cleanly_and_comes_back_with_one_more_boot(
    plain_broker: MosquittoBroker,
    observer: Observer,
    fleet_factory: FleetFactory,
    retained: Retained,
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    await observer.wait_for(f"tasmota/discovery/{device.mac}/config")
    boots = device.settings.boot_count
    mark = observer.mark()
    assert await send(observer, device, "Restart", "1") == {"Restart": "Restarting"}
    # EspRestart() sends DISCONNECT: the broker drops the will, no Offline; then a live Online.
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    await device.wait_state(lambda d: d.connected, 10)
    assert plain_broker.find_log(disconnected_line(f"DVES_{device.mac[-6:]}"))
    assert [m.text for m in observer.since(mark, f"tele/{device.topic}/LWT")] == ["Online"]
    assert (await retained(plain_broker.port, f"tele/{device.topic}/LWT")).text == "Online"
    assert device.settings.boot_count == boots + 1
    assert await send(observer, device, "Restart", "2x") == {"Restart": "1 to restart"}


async def test_settings_persist_across_restart_and_a_new_process(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port, count=2)
    device = fleet.devices[1]
    assert await send(observer, device, "MqttUser", "alice") == {"MqttUser": "alice"}
    await device.wait_state(lambda d: d.settings.boot_count == 2 and d.connected, 10)
    assert await send(observer, device, "MqttUser") == {"MqttUser": "alice"}
    macs = [d.mac for d in fleet.devices]
    state_dir = fleet.state_dir
    await fleet.stop()

    again = await fleet_factory(plain_broker.port, count=2, state_dir=state_dir)
    assert [d.mac for d in again.devices] == macs
    assert again.devices[1].settings.mqtt_user == "alice"
    assert again.devices[1].settings.boot_count == 3


async def test_mqtt_settings_commands_reply_and_restart_once_after_backlog(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    await observer.wait_for(f"tasmota/discovery/{device.mac}/config")
    boots = device.settings.boot_count
    mark = observer.mark()
    observer.publish(
        f"cmnd/{device.topic}/Backlog",
        f"MqttUser bob; MqttPassword secret1; MqttClient myclient; MqttPort {plain_broker.port}; "
        "MqttHost 127.0.0.1",
    )
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    results = [m.json() for m in observer.since(mark, f"stat/{device.topic}/RESULT")]
    assert results == [
        {"MqttUser": "bob"},
        {"MqttPassword": "secret1"},
        {"MqttClient": "myclient"},
        {"MqttPort": plain_broker.port},
        {"MqttHost": "127.0.0.1"},
    ]
    await device.wait_state(lambda d: d.connected, 10)
    assert device.settings.boot_count == boots + 1  # five restarting commands, one restart
    assert plain_broker.find_log(connected_line(client="myclient", user="bob"))
    assert await send(observer, device, "MqttPassword") == {"MqttPassword": "****"}
    assert all("secret1" not in line for line in device.events)


async def test_status_6_and_status_0(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    status6 = await send(observer, device, "Status", "6", reply="STATUS6")
    assert status6 == {
        "StatusMQT": {
            "MqttHost": "127.0.0.1",
            "MqttPort": plain_broker.port,
            "MqttClientMask": "DVES_%06X",
            "MqttClient": f"DVES_{device.mac[-6:]}",
            "MqttUser": "DVES_USER",
            "MqttCount": 1,
            "MqttTLS": 0,
            "MAX_PACKET_SIZE": 1200,
            "KEEPALIVE": 30,
            "SOCKET_TIMEOUT": 4,
        }
    }
    mark = observer.mark()
    observer.publish(f"cmnd/{device.topic}/Status", "0")
    firmware = (await observer.wait_for(f"stat/{device.topic}/STATUS2", since=mark)).json()
    network = (await observer.wait_for(f"stat/{device.topic}/STATUS5", since=mark)).json()
    assert firmware["StatusFWR"]["Version"] == "14.5.0(tasmota)"
    assert network["StatusNET"]["IPAddress"] == device.ip
    assert network["StatusNET"]["Mac"] == ":".join(device.mac[i : i + 2] for i in range(0, 12, 2))
    combined = await send(observer, device, "Status0", "", reply="STATUS0")
    assert {"Status", "StatusFWR", "StatusNET", "StatusMQT"} <= set(combined)


async def test_older_firmware_has_no_mqtttls_in_status_6(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port, firmware="13.0.0")
    device = fleet.devices[0]
    status6 = await send(observer, device, "Status", "6", reply="STATUS6")
    assert "MqttTLS" not in status6["StatusMQT"]
    assert status6["StatusMQT"]["MAX_PACKET_SIZE"] == 1200
    config = (await observer.wait_for(f"tasmota/discovery/{device.mac}/config")).json()
    assert config["sw"] == "13.0.0"


async def test_power_cycle_publishes_the_will_and_comes_back(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    fleet = await fleet_factory(plain_broker.port)
    device = fleet.devices[0]
    mark = observer.mark()
    await device.power_cycle(0.1)
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Offline"
    )
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    await device.wait_state(lambda d: d.connected and d.discovery_published, 10)


async def test_power_and_state_like_a_one_relay_device(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    mark = observer.mark()
    assert await send(observer, device, "Power", "ON") == {"POWER": "ON"}
    plain = await observer.wait_for(f"stat/{device.topic}/POWER", since=mark)
    assert plain.text == "ON"
    assert await send(observer, device, "Power1", "toggle") == {"POWER": "OFF"}
    mark = observer.mark()
    observer.publish(f"cmnd/{device.topic}/State", "")
    reply = await observer.wait_for(f"stat/{device.topic}/RESULT", since=mark)
    assert reply.json()["POWER"] == "OFF" and reply.json()["MqttCount"] == 1
    assert await send(observer, device, "Power2", "1") == {"Command": "Error"}


async def test_topic_and_full_topic_changes(
    plain_broker: MosquittoBroker,
    observer: Observer,
    fleet_factory: FleetFactory,
    retained: Retained,
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    old = device.topic
    assert await send(observer, device, "Topic", "kitchen light") == {"Topic": "kitchen_light"}
    await device.wait_state(lambda d: d.connected and d.topic == "kitchen_light", 10)
    assert (await retained(plain_broker.port, "tele/kitchen_light/LWT")).text == "Online"
    mark = observer.mark()
    observer.publish("cmnd/kitchen_light/FullTopic", "%prefix%/home/%topic%/")
    # The firmware reads FullTopic afresh for every message: the reply already uses it.
    reply = await observer.wait_for("stat/home/kitchen_light/RESULT", since=mark)
    assert reply.json() == {"FullTopic": "%prefix%/home/%topic%/"}
    await device.wait_state(lambda d: d.connected and d.settings.boot_count == 3, 10)
    config = (await observer.wait_for(f"tasmota/discovery/{device.mac}/config", since=mark)).json()
    assert (config["t"], config["ft"], config["hn"]) == (
        "kitchen_light",
        "%prefix%/home/%topic%/",
        f"kitchen-light-{int(device.mac[-6:], 16) & 0x1FFF:04d}",
    )
    mark = observer.mark()
    observer.publish("cmnd/home/kitchen_light/MqttHost", "")
    reply = await observer.wait_for("stat/home/kitchen_light/RESULT", since=mark)
    assert reply.json() == {"MqttHost": "127.0.0.1"}
    assert old != device.topic


async def test_reconnects_with_back_off_when_the_broker_comes_back(
    plain_broker: MosquittoBroker, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    plain_broker.stop()
    await device.wait_state(lambda d: sum("Connect failed" in x for x in d.events) >= 2, 20)
    assert any(f"127.0.0.1:{plain_broker.port}, rc -2. Retry in 20 sec" in x for x in device.events)
    assert not device.connected
    plain_broker.start()
    await device.wait_state(lambda d: d.connected and d.connect_count == 2, 20)
    assert any("MQT: Connection lost" in x for x in device.events)


async def test_setoptions_reply_under_their_full_name_and_restart(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    mark = observer.mark()
    observer.publish(f"cmnd/{device.topic}/SO132", "1")
    reply = await observer.wait_for(f"stat/{device.topic}/RESULT", since=mark)
    assert reply.json() == {"SetOption132": "ON"}
    await device.wait_state(lambda d: d.connected and d.settings.boot_count == 2, 10)
    assert await send(observer, device, "SetOption103", "2") == {"Command": "Error"}
    assert await send(observer, device, "SetOption165", "1") == {"SetOption165": "ON"}
    assert await send(observer, device, "SetOption103") == {"SetOption103": "OFF"}
    restarts = [x for x in device.events if "Restart requested" in x]
    assert len(restarts) == 1 and "SetOption132" in restarts[0]  # 165 and errors do not restart
