"""The enrolment engine's options for one operation, from the entry and its secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.exceptions import ServiceValidationError

from .addon.hooks import addon_engine_options
from .const import (
    CHANNEL_MQTT,
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CHANNEL,
    CONF_HTTP_PORT,
    CONF_RENEW_OVER_TLS,
    CONF_ROLLBACK_MINUTES,
    CONF_VALIDATION,
    DEFAULT_CHANNEL,
    DEFAULT_HTTP_PORT,
    DEFAULT_RENEW_OVER_TLS,
    DEFAULT_ROLLBACK_MINUTES,
    DEFAULT_VALIDATION,
    DOMAIN,
    VALIDATION_FINGERPRINT,
)
from .enrolment import EnrolmentOptions

if TYPE_CHECKING:
    from .manager import TlsManager


def engine_options(
    manager: TlsManager, mac: str | None, operation: str, timing: dict[str, Any]
) -> EnrolmentOptions:
    """Options for ``operation`` on ``mac``; raises a translated error if unusable.

    A renewal of a device that is on TLS goes over its TLS MQTT session by default:
    the HTTP channel is plain http on the LAN (TLSKey1 and the web password in clear),
    while on the TLS listener the bundle's ACL lets only the device and Home Assistant
    read the device's command topic.
    """
    entry, snapshot = manager.entry, manager.ca.snapshot
    options = entry.options
    channel = options.get(CONF_CHANNEL, DEFAULT_CHANNEL)
    state = manager.tracker.devices.get(mac) if mac else None
    if (
        operation == "renew"
        and state is not None
        and state.mqtt_tls
        and options.get(CONF_RENEW_OVER_TLS, DEFAULT_RENEW_OVER_TLS)
    ):
        channel = CHANNEL_MQTT
    validation = options.get(CONF_VALIDATION, DEFAULT_VALIDATION)
    fingerprint = snapshot.broker_fingerprint if snapshot else None
    if validation == VALIDATION_FINGERPRINT and fingerprint is None:
        # A broker certificate without a fingerprint has an EC key: no device can pin it.
        known = snapshot is not None and snapshot.broker_not_after is not None
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="fingerprint_needs_rsa" if known else "broker_certificate_missing",
        )
    return EnrolmentOptions(
        broker_host=entry.data[CONF_BROKER_HOST],
        broker_port=int(entry.data[CONF_BROKER_PORT]),
        validation=validation,
        fingerprint=fingerprint,
        next_fingerprint=snapshot.previous_broker_fingerprint if snapshot and fingerprint else None,
        channel=channel,
        http_port=int(options.get(CONF_HTTP_PORT, DEFAULT_HTTP_PORT)),
        web_password=manager.secrets.web_password,
        rollback_minutes=int(options.get(CONF_ROLLBACK_MINUTES, DEFAULT_ROLLBACK_MINUTES)),
        **addon_engine_options(manager, mac, channel),  # the Mosquitto add-on's login
        **timing,
    )
