"""The enrolment engine's options for one operation, from the settings, CA and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from homeassistant.exceptions import ServiceValidationError

from .ca import CertificateAuthority
from .const import CHANNEL_MQTT, DOMAIN
from .device_state import DeviceState
from .enrolment import EnrolmentOptions
from .secret_store import SecretStore
from .settings import EngineTiming, EntrySettings


class EngineOptions:
    """Builds EnrolmentOptions; the engine's timing is fixed when the runtime is built."""

    def __init__(
        self,
        settings: EntrySettings,
        ca: CertificateAuthority,
        secrets: SecretStore,
        timing: EngineTiming,
    ) -> None:
        """Options from ``settings``, the CA's broker fingerprint and the web password."""
        self._settings = settings
        self._ca = ca
        self._secrets = secrets
        self._timing = timing

    def channel(self, state: DeviceState | None, operation: str) -> Literal["http", "mqtt"]:
        """HTTP or MQTT: the option, except that a renewal on TLS stays on TLS.

        A renewal of a device that is on TLS goes over its TLS MQTT session by default:
        the HTTP channel is plain http on the LAN (TLSKey1 and the web password in clear),
        while on the TLS listener the bundle's ACL lets only the device and Home Assistant
        read the device's command topic.
        """
        settings = self._settings
        if (
            operation == "renew"
            and state is not None
            and state.mqtt_tls
            and settings.renew_over_tls
        ):
            return CHANNEL_MQTT
        return settings.channel

    def options(
        self,
        state: DeviceState | None = None,
        operation: str = "enrol",
        login: Mapping[str, Any] | None = None,
    ) -> EnrolmentOptions:
        """Options for ``operation`` on the device; raises a translated error if unusable.

        ``login`` holds the device's own broker login (the Mosquitto add-on), if any.
        """
        settings, snapshot = self._settings, self._ca.snapshot
        fingerprint = snapshot.broker_fingerprint if snapshot else None
        if settings.fingerprint_mode and fingerprint is None:
            # A broker certificate without a fingerprint has an EC key: no device can pin it.
            known = snapshot is not None and snapshot.broker_not_after is not None
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="fingerprint_needs_rsa" if known else "broker_certificate_missing",
            )
        return EnrolmentOptions(
            broker_host=settings.broker_host,
            broker_port=settings.broker_port,
            validation=settings.validation,
            fingerprint=fingerprint,
            next_fingerprint=snapshot.previous_broker_fingerprint
            if snapshot and fingerprint
            else None,
            channel=self.channel(state, operation),
            http_port=settings.http_port,
            web_password=self._secrets.web_password,
            rollback_minutes=settings.rollback_minutes,
            **dict(login or {}),
            **self._timing.as_options(),
        )
