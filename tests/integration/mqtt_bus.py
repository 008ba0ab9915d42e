"""Broker behaviour on top of Home Assistant's mocked MQTT client.

The mock echoes every publish back as a received message. This adds what a broker
and devices do: retained messages are replayed to a new subscription, and a device
script can answer commands (the replies are delivered like real messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

type Responder = Callable[[str, str], list[tuple[str, str]] | None]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT wildcard matching (+ and #)."""
    filter_parts, topic_parts = topic_filter.split("/"), topic.split("/")
    for index, part in enumerate(filter_parts):
        if part == "#":
            return True
        if index >= len(topic_parts) or (part not in ("+", topic_parts[index])):
            return False
    return len(filter_parts) == len(topic_parts)


class MqttBus:
    """Retained messages and scripted device replies for the mocked client."""

    def __init__(self, hass: HomeAssistant, client_mock: Any) -> None:
        """Wrap the mock client's subscribe and publish side effects."""
        self.hass = hass
        self.retained: dict[str, str] = {}
        self.published: list[tuple[str, str, bool]] = []
        self.responders: list[Responder] = []
        self._subscribe = client_mock.subscribe.side_effect
        self._publish = client_mock.publish.side_effect
        client_mock.subscribe.side_effect = self._on_subscribe
        client_mock.publish.side_effect = self._on_publish

    def retain(self, topic: str, payload: str) -> None:
        """Publish a retained message (an empty payload clears it).

        Current subscribers get it with the retain flag clear, as from a broker: the
        flag is set only on messages replayed to a new subscription.
        """
        if payload:
            self.retained[topic] = payload
        else:
            self.retained.pop(topic, None)
        async_fire_mqtt_message(self.hass, topic, payload, 0, False)

    def _on_subscribe(self, topics: Any, qos: int = 0, *args: Any, **kwargs: Any) -> Any:
        # Home Assistant's client (2026.x) also passes MQTT v5 ``properties``.
        result = self._subscribe(topics, qos, *args, **kwargs)
        filters = [t for t, _ in topics] if isinstance(topics, list) else [topics]
        for topic_filter in filters:
            for topic, payload in list(self.retained.items()):
                if topic_matches(topic_filter, topic):
                    self.hass.loop.call_soon(
                        async_fire_mqtt_message, self.hass, topic, payload, 0, True
                    )
        return result

    def _on_publish(
        self,
        topic: str,
        payload: Any,
        qos: int = 0,
        retain: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        text = payload.decode() if isinstance(payload, bytes) else str(payload or "")
        self.published.append((topic, text, retain))
        result = self._publish(topic, payload, qos, retain, *args, **kwargs)
        for responder in self.responders:
            for reply_topic, reply in responder(topic, text) or []:
                self.hass.loop.call_soon(
                    async_fire_mqtt_message, self.hass, reply_topic, reply, 0, False
                )
        return result
