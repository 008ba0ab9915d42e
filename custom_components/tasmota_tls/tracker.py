"""Discovered Tasmota devices and whether each is online, and over TLS.

Subscribes through Home Assistant's MQTT integration to the retained discovery
configs; per device it follows the LWT and asks ``Status 6`` whenever the device
comes online, because only that reply says whether the MQTT link is TLS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .device_state import DeviceState
from .discovery import (
    DISCOVERY_CONFIG_SUBSCRIPTION,
    TasmotaDevice,
    mac_from_config_topic,
    parse_discovery_config,
)

_LOGGER = logging.getLogger(__name__)

type DeviceCallback = Callable[[DeviceState], None]


def _status6(payload: str) -> dict[str, object] | None:
    try:
        status = json.loads(payload)["StatusMQT"]
    except (ValueError, KeyError, TypeError):
        return None
    return status if isinstance(status, dict) else None


class DeviceTracker:
    """Keeps the device list and each device's connection state."""

    def __init__(
        self,
        hass: HomeAssistant,
        tls_port: Callable[[], int],
        on_added: DeviceCallback,
        on_changed: DeviceCallback,
    ) -> None:
        """``on_added`` runs for a device seen the first time, ``on_changed`` for any update."""
        self._hass = hass
        self._tls_port = tls_port
        self._on_added = on_added
        self._on_changed = on_changed
        self.devices: dict[str, DeviceState] = {}
        self._device_unsubscribes: dict[str, list[CALLBACK_TYPE]] = {}
        self._unsubscribe_discovery: CALLBACK_TYPE | None = None

    async def async_start(self) -> None:
        """Subscribe to discovery (retained configs arrive right away)."""
        self._unsubscribe_discovery = await mqtt.async_subscribe(
            self._hass, DISCOVERY_CONFIG_SUBSCRIPTION, self._handle_discovery
        )

    @callback
    def async_stop(self) -> None:
        """Drop every subscription."""
        if self._unsubscribe_discovery is not None:
            self._unsubscribe_discovery()
            self._unsubscribe_discovery = None
        for mac in list(self._device_unsubscribes):
            self._unsubscribe_device(mac)

    @callback
    def async_forget(self, mac: str) -> None:
        """Stop following a device and drop it from the list."""
        self._unsubscribe_device(mac)
        self.devices.pop(mac, None)

    async def async_query_status(self, mac: str) -> None:
        """Ask the device for ``Status 6``; the reply updates its state."""
        if (state := self.devices.get(mac)) is not None and state.present:
            await mqtt.async_publish(self._hass, state.device.command_topic("Status"), "6")

    @callback
    def _handle_discovery(self, msg: mqtt.ReceiveMessage) -> None:
        mac = mac_from_config_topic(msg.topic)
        if mac is None:
            return
        payload = str(msg.payload)
        if not payload.strip():
            self._device_removed(mac)
            return
        try:
            device = parse_discovery_config(payload)
        except ValueError as err:
            _LOGGER.warning("Ignoring discovery config on %s: %s", msg.topic, err)
            return
        if device.mac != mac:
            _LOGGER.warning(
                "Ignoring discovery config on %s: it names MAC %s", msg.topic, device.mac
            )
            return
        state = self.devices.get(mac)
        if state is not None and state.present and state.device == device:
            return  # the same retained config again
        if state is None:
            state = self.devices[mac] = DeviceState(device)
            added = True
        else:
            if not state.present:
                _LOGGER.info("Tasmota %s announced itself again", mac)
            elif state.device.ip != device.ip:
                _LOGGER.info("Tasmota %s moved from %s to %s", mac, state.device.ip, device.ip)
            state.device, state.present = device, True
            added = False
        self._hass.async_create_task(self._async_follow(state), eager_start=True)
        if added:
            self._on_added(state)
        self._on_changed(state)

    @callback
    def _device_removed(self, mac: str) -> None:
        state = self.devices.get(mac)
        if state is None or not state.present:
            return
        _LOGGER.info("Tasmota %s removed its discovery config", mac)
        self._unsubscribe_device(mac)
        state.present, state.online, state.mqtt_tls = False, None, None
        self._on_changed(state)

    def _unsubscribe_device(self, mac: str) -> None:
        for unsubscribe in self._device_unsubscribes.pop(mac, []):
            unsubscribe()

    async def _async_follow(self, state: DeviceState) -> None:
        """(Re)subscribe to the device's LWT and Status 6 replies, then ask."""
        mac = state.device.mac
        self._unsubscribe_device(mac)
        device = state.device

        @callback
        def on_lwt(msg: mqtt.ReceiveMessage) -> None:
            self._handle_lwt(mac, device, str(msg.payload))

        @callback
        def on_status(msg: mqtt.ReceiveMessage) -> None:
            self._handle_status(mac, str(msg.payload))

        unsubscribes = [
            await mqtt.async_subscribe(self._hass, device.lwt_topic, on_lwt),
            await mqtt.async_subscribe(self._hass, device.stat_topic("STATUS6"), on_status),
        ]
        if self.devices.get(mac) is not state or state.device is not device:
            for unsubscribe in unsubscribes:  # replaced or stopped while subscribing
                unsubscribe()
            return
        self._device_unsubscribes[mac] = unsubscribes
        await self.async_query_status(mac)

    @callback
    def _handle_lwt(self, mac: str, device: TasmotaDevice, payload: str) -> None:
        state = self.devices.get(mac)
        if state is None:
            return
        if payload == device.online_payload:
            was_online, state.online = state.online, True
            if not was_online:
                # A reconnect may have changed TLS; ask rather than guess.
                state.mqtt_tls = None
                self._hass.async_create_task(self.async_query_status(mac), eager_start=True)
        elif payload == device.offline_payload:
            state.online = False
        else:
            return
        self._on_changed(state)

    @callback
    def _handle_status(self, mac: str, payload: str) -> None:
        state = self.devices.get(mac)
        status = _status6(payload)
        if state is None or status is None:
            return
        host, port, tls = status.get("MqttHost"), status.get("MqttPort"), status.get("MqttTLS")
        state.mqtt_host = host if isinstance(host, str) else None
        state.mqtt_port = port if isinstance(port, int) else None
        if isinstance(tls, int):
            state.mqtt_tls = bool(tls)
        else:  # firmware before MqttTLS: the port is the best hint
            state.mqtt_tls = state.mqtt_port == self._tls_port()
        state.online = True  # it just answered over MQTT
        self._on_changed(state)
