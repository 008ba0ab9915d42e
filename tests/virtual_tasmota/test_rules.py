"""Rules as xdrv_10_rules runs them, up to a rollback guard around a failed switch to TLS."""

from __future__ import annotations

from typing import Any

from tests.helpers.mosquitto import MosquittoBroker, free_port
from virtual_tasmota import VirtualDevice

from .helpers import FleetFactory, Observer, send
from .tls_helpers import PASSPHRASE, Pki


async def test_rule_commands_and_triggers(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    text = (
        "ON Mqtt#Connected DO DeviceName connected ENDON "
        "ON Rules#Timer=2 DO Backlog FriendlyName1 timer2; RuleTimer3 5 ENDON "
        "ON Rules#Timer=3 DO DeviceName timer3 ENDON"
    )
    reply = await send(observer, device, "Rule1", text)
    assert reply == {
        "Rule1": {
            "State": "OFF",
            "Once": "OFF",
            "StopOnError": "OFF",
            "Length": len(text),
            "Free": 511 - len(text),
            "Rules": text,
        }
    }
    # Defining a rule does not enable it.
    assert (await send(observer, device, "RuleTimer2", "1"))["T2"] in (0, 1)
    assert (await send(observer, device, "rule1", "1"))["Rule1"]["State"] == "ON"
    assert (await send(observer, device, "RuleTimer2", "2"))["T2"] in (1, 2)
    await device.wait_state(lambda d: d.settings.device_name == "timer3", 10)
    assert device.settings.friendly_name == "timer2"  # set before RuleTimer3 was armed

    # Rules survive a restart; Mqtt#Connected fires on the new connection.
    await send(observer, device, "Restart", "1")
    await device.wait_state(lambda d: d.settings.device_name == "connected", 10)
    assert (await send(observer, device, "Rule1"))["Rule1"]["Rules"] == text
    assert (await send(observer, device, "Rule1", '"'))["Rule1"]["Rules"] == ""
    assert (await send(observer, device, "RuleTimer9", "1")) == {"Command": "Error"}


async def test_system_boot_fires_once_connected_and_runs_a_backlog(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    await send(
        observer,
        device,
        "Rule2",
        "ON System#Boot DO Backlog DeviceName booted; FriendlyName1 x ENDON",
    )
    await send(observer, device, "Rule2", "1")
    await send(observer, device, "Restart", "1")
    await device.wait_state(
        lambda d: (d.settings.device_name, d.settings.friendly_name) == ("booted", "x"), 10
    )
    assert sum("SYSTEM#BOOT performs" in line for line in device.events) == 1


async def enrol(observer: Observer, pki: Pki, device: VirtualDevice) -> None:
    issued = pki.store.issue_device(PASSPHRASE, device.topic)
    assert issued.payloads is not None
    await send(observer, device, "TLSKey1", issued.payloads.tlskey1)
    assert (await send(observer, device, "TLSKey2", issued.payloads.tlskey2))["TLSKey2"] > 256


async def test_rollback_guard_restores_the_old_settings_when_tls_is_down(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory, pki: Pki
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    await enrol(observer, pki, device)
    plain, dead_tls_port = plain_broker.port, free_port()  # nothing listens on the TLS port
    guard = (
        "ON System#Init DO RuleTimer1 300 ENDON "
        "ON Mqtt#Connected DO Backlog RuleTimer1 0; Rule1 0 ENDON "
        "ON Rules#Timer=1 DO Backlog Rule1 0; MqttHost 127.0.0.1; "
        f"MqttPort {plain}; SetOption103 0 ENDON"
    )
    await send(observer, device, "Rule1", guard)
    assert (await send(observer, device, "Rule1", "1"))["Rule1"]["State"] == "ON"
    boots = device.settings.boot_count
    mark = observer.mark()
    observer.publish(
        f"cmnd/{device.topic}/Backlog",
        f"MqttHost 127.0.0.1; MqttPort {dead_tls_port}; SetOption132 1; "
        f"MqttFingerprint1 {'FF ' * 20}; "
        "SetOption103 1",
    )
    # Restart into TLS: nothing answers, the device logs the failure and keeps retrying...
    await device.wait_state(
        lambda d: any("MQT: TLS connection error: -1002" in line for line in d.events), 10
    )
    # ...until RuleTimer1 runs out, the rule puts the old settings back and restarts once more.
    await observer.wait_for(
        f"tele/{device.topic}/LWT", since=mark, where=lambda m: m.text == "Online"
    )
    await device.wait_state(lambda d: d.connected, 10)
    assert device.settings.boot_count == boots + 2
    assert (device.settings.mqtt_port, device.settings.setoption103) == (plain, 0)
    status = await send(observer, device, "Status", "6", reply="STATUS6")
    assert (status["StatusMQT"]["MqttTLS"], status["StatusMQT"]["MqttPort"]) == (0, plain)
    assert (await send(observer, device, "Rule1"))["Rule1"]["State"] == "OFF"


async def test_a_guard_armed_on_system_boot_never_arms_when_mqtt_fails(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    """The firmware raises System#Boot from MqttConnected(): no connection, no System#Boot."""
    device = (await fleet_factory(plain_broker.port)).devices[0]
    guard = (
        "ON System#Boot DO RuleTimer1 50 ENDON "
        f"ON Rules#Timer=1 DO Backlog MqttPort {plain_broker.port}; Rule1 0 ENDON"
    )
    await send(observer, device, "Rule1", guard)
    await send(observer, device, "Rule1", "1")
    observer.publish(f"cmnd/{device.topic}/MqttPort", str(free_port()))

    def failures(d: Any) -> int:
        return sum("Connect failed" in line for line in d.events)

    # Five failed attempts take 0.2 * (1+2+3+4) s = 2 s of scaled retries: 4x the 0.5 s timer.
    await device.wait_state(lambda d: failures(d) >= 5, 15)
    assert not device.connected
    assert not any("RULES#TIMER=1 performs" in line for line in device.events)


async def test_power_state_rule_with_value_and_publish(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    await send(
        observer, device, "Rule3", "ON Power1#State DO Publish stat/%topic%/seen %value% ENDON"
    )
    await send(observer, device, "Rule3", "1")
    mark = observer.mark()
    await send(observer, device, "Power", "1")
    seen = await observer.wait_for(f"stat/{device.topic}/seen", since=mark)
    assert seen.text == "1"


async def test_once_fires_a_repeated_trigger_only_the_first_time(
    plain_broker: MosquittoBroker, observer: Observer, fleet_factory: FleetFactory
) -> None:
    device = (await fleet_factory(plain_broker.port)).devices[0]
    await send(observer, device, "Rule1", "ON Mqtt#Disconnected DO RuleTimer1 300 ENDON")
    assert (await send(observer, device, "Rule1", "5"))["Rule1"]["Once"] == "ON"
    await send(observer, device, "Rule1", "1")
    observer.publish(f"cmnd/{device.topic}/MqttPort", str(free_port()))

    def failures(d: Any) -> int:
        return sum("Connect failed" in line for line in d.events)

    await device.wait_state(lambda d: failures(d) >= 3, 15)
    assert sum("MQTT#DISCONNECTED performs" in line for line in device.events) == 1
