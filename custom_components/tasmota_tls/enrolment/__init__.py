"""Enrolment engine: moves a discovered Tasmota device onto MQTT over TLS.

Usage::

    enroller = Enroller(transport, EnrolmentOptions(broker_host="mqtt.lan",
                                                    fingerprint="AA BB ... 20 bytes"))
    record = await enroller.enrol(device, issue, journal)      # raises EnrolmentError
    record = await enroller.resume(device, record, journal)    # after a restart
    record = await enroller.renew(device, issue, journal)      # new key + cert

``issue`` is an async callable returning a pki IssuedCredential (the integration
runs PkiStore.issue_device in the executor); ``journal`` is an async callable
that persists the EnrolmentRecord (record.to_dict()) before each step. The
record never holds key material or a passphrase.

Steps: ISSUE (TLSKey support check, previous MQTT settings and rule slot read,
credential issued and size-checked) -> SEND_KEY (TLSKey1) -> SEND_CERT
(TLSKey2) -> CONFIRM (stored lengths 32 / our DER length) -> ARM_ROLLBACK (a
Tasmota rule that restores the previous MqttHost/MqttPort/SetOption103 if MQTT
has not connected within rollback_minutes of a boot) -> SWITCH (Backlog MqttHost,
MqttPort, SetOption132 + MqttFingerprint1, SetOption103 1) -> WAIT_ONLINE (a
fresh LWT Online and Status 6 with MqttTLS 1) -> DISARM (rule slot restored) ->
DONE. Commands go over HTTP /cm by default (the key never crosses the broker),
over MQTT when channel="mqtt" (never retained).

Modules: engine (the three operations and their order), steps (the device steps up to
the switch, and the disarm), waits (after the switch), commands (what is sent, and the
checks of the replies), run (the journal before each step), watch, rollback, model.
Submodules import their siblings directly, never this package.

Transports: transport.Transport is the protocol; ha_transport.HomeAssistantTransport
runs inside Home Assistant; tests/helpers/plain_transport.PlainTransport (aiohttp +
paho-mqtt, not shipped) serves the tests on loopback. This package imports nothing from Home
Assistant except in ha_transport.
"""

from .engine import Enroller
from .model import (
    EnrolmentError,
    EnrolmentOptions,
    EnrolmentRecord,
    EnrolmentStep,
    Issuer,
    Journal,
)
from .rollback import PreviousSettings, RuleSlot
from .transport import MqttMessage, Transport, TransportError

__all__ = [
    "Enroller",
    "EnrolmentError",
    "EnrolmentOptions",
    "EnrolmentRecord",
    "EnrolmentStep",
    "Issuer",
    "Journal",
    "MqttMessage",
    "PreviousSettings",
    "RuleSlot",
    "Transport",
    "TransportError",
]
