"""The enrolment engine's data: steps, options, the journal record and its error.

Nothing here may ever hold key material or a passphrase: the record is persisted
by the integration and the error text reaches logs and the user interface.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from ..pki.limits import DEFAULT_TLS_PORT

if TYPE_CHECKING:
    from ..pki import IssuedCredential

# A value that goes into a Backlog or a rule must not split it (';') or end it (spaces).
_SAFE_HOST = re.compile(r"^[A-Za-z0-9._:\[\]-]{1,128}$")
_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}( [0-9A-Fa-f]{2}){19}$")
_LOGIN_TEXT = re.compile(r'^[^\s;"\\]{1,32}$')

MAX_RULE_SLOT = 3  # Tasmota has Rule1..Rule3
MAX_RULE_TIMER = 8  # and RuleTimer1..RuleTimer8


class EnrolmentStep(StrEnum):
    """Where an enrolment (or renewal) stands; journaled before each step runs."""

    ISSUE = "issue"  # check TLSKey support, read the previous settings, issue the credential
    SEND_KEY = "send_key"  # TLSKey1
    SEND_CERT = "send_cert"  # TLSKey2
    CONFIRM = "confirm"  # the stored lengths match ours
    ARM_ROLLBACK = "arm_rollback"  # device-side rule that restores the old settings
    SWITCH = "switch"  # MqttHost/MqttPort/validation, SetOption103 1 (restarts)
    WAIT_ONLINE = "wait_online"  # Online again, Status 6 says TLS
    DISARM = "disarm"  # the rule slot gets its previous content back
    DONE = "done"
    FAILED = "failed"


def valid_host(value: str) -> bool:
    """True when ``value`` can be sent inside a Backlog or a rule unquoted."""
    return bool(_SAFE_HOST.match(value))


def valid_login_text(value: str) -> bool:
    """Fit for ``MqttUser``/``MqttPassword`` in a Backlog and a rule (Tasmota keeps 32 chars)."""
    return bool(_LOGIN_TEXT.match(value)) and value not in ("0", "1")


def valid_fingerprint(value: str) -> bool:
    """True for MqttFingerprint's format: 20 hex bytes separated by single spaces."""
    return bool(_FINGERPRINT.match(value))


@dataclass
class EnrolmentOptions:
    """How to enrol: which broker, which validation, which channel, how long to wait.

    rollback_minutes is the device's grace period after the switch: if its MQTT
    client has not connected by then, the armed rule restores the old settings.
    wait_online_timeout (seconds) bounds how long the engine watches for the device
    after the switch; by default the rollback period plus two step timeouts, so a
    rollback is always seen through.
    """

    broker_host: str
    broker_port: int = DEFAULT_TLS_PORT
    validation: Literal["fingerprint", "ca"] = "fingerprint"
    fingerprint: str | None = None  # MqttFingerprint1, "AA BB .." (20 bytes)
    next_fingerprint: str | None = None  # MqttFingerprint2, for a broker key rotation
    channel: Literal["http", "mqtt"] = "http"
    http_port: int = 80
    web_password: str | None = field(default=None, repr=False)
    rollback_minutes: int = 5
    step_timeout: float = 30.0
    rule_slot: int = 3
    rule_timer: int = 3
    poll_interval: float = 2.0  # seconds between Status 6 queries while waiting
    wait_online_timeout: float | None = None
    # A login of the device's own on the broker (the Mosquitto add-on wants one from every
    # client): sent as MqttUser/MqttPassword with the switch. Never in repr or the record.
    mqtt_user: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    # Passwords of the broker's other logins, so the rollback rule can give the device its
    # previous MqttUser/MqttPassword back; the record keeps only the previous user name.
    previous_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.mqtt_user is None) != (self.mqtt_password is None):
            raise ValueError("mqtt_user and mqtt_password go together")
        for value in (self.mqtt_user, self.mqtt_password):
            if value is not None and not valid_login_text(value):
                raise ValueError("an MQTT user or password is 1-32 characters, no space or ;")
        if not valid_host(self.broker_host):
            raise ValueError("broker_host must be a host name or IP address")
        if not 0 < self.broker_port < 65536 or not 0 < self.http_port < 65536:
            raise ValueError("ports must be between 1 and 65535")
        if self.validation not in ("fingerprint", "ca"):
            raise ValueError("validation must be 'fingerprint' or 'ca'")
        if self.validation == "fingerprint" and self.fingerprint is None:
            raise ValueError("fingerprint validation needs the broker's fingerprint")
        for value in (self.fingerprint, self.next_fingerprint):
            if value is not None and not valid_fingerprint(value):
                raise ValueError("a fingerprint is 20 hex bytes separated by spaces")
        if self.channel not in ("http", "mqtt"):
            raise ValueError("channel must be 'http' or 'mqtt'")
        if self.web_password is not None and (
            not self.web_password or any(c in self.web_password for c in "\r\n")
        ):
            raise ValueError("the web password must be a non-empty single line")
        if self.rollback_minutes < 1:
            raise ValueError("rollback_minutes must be at least 1")
        if not 1 <= self.rule_slot <= MAX_RULE_SLOT:
            raise ValueError(f"rule_slot must be 1..{MAX_RULE_SLOT}")
        if not 1 <= self.rule_timer <= MAX_RULE_TIMER:
            raise ValueError(f"rule_timer must be 1..{MAX_RULE_TIMER}")
        if self.step_timeout <= 0 or self.poll_interval <= 0:
            raise ValueError("timeouts must be positive")

    @property
    def rollback_seconds(self) -> int:
        return self.rollback_minutes * 60

    @property
    def online_timeout(self) -> float:
        if self.wait_online_timeout is not None:
            return self.wait_online_timeout
        return self.rollback_seconds + 2 * self.step_timeout


@dataclass
class EnrolmentRecord:
    """What the integration persists between steps (JSON via to_dict/from_dict).

    ``previous`` holds the device's settings before the switch (MqttHost, MqttPort,
    SetOption103/132, the rule slot's content), so a restart of Home Assistant never
    loses what has to be restored. Never key material, never a passphrase.
    ``failed_step`` names the step a FAILED record stopped at; ``switched_at`` is
    set once the switch has been sent; ``operation`` is "enrol" or "renew".
    """

    mac: str
    step: EnrolmentStep
    serial: str | None
    started_at: str
    previous: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None
    operation: Literal["enrol", "renew"] = "enrol"
    failed_step: EnrolmentStep | None = None
    switched_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def start(cls, mac: str, operation: Literal["enrol", "renew"] = "enrol") -> EnrolmentRecord:
        now = utc_now()
        return cls(
            mac=mac,
            step=EnrolmentStep.ISSUE,
            serial=None,
            started_at=now,
            operation=operation,
            updated_at=now,
        )

    @property
    def finished(self) -> bool:
        return self.step in (EnrolmentStep.DONE, EnrolmentStep.FAILED)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = str(self.step)
        data["failed_step"] = str(self.failed_step) if self.failed_step else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnrolmentRecord:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["step"] = EnrolmentStep(values["step"])
        if values.get("failed_step"):
            values["failed_step"] = EnrolmentStep(values["failed_step"])
        values["previous"] = dict(values.get("previous") or {})
        return cls(**values)


class EnrolmentError(Exception):
    """An enrolment step failed; the device was left connectable.

    ``reason`` is a stable code: "no_tlskey_support", "timeout", "length_mismatch",
    "certificate_too_large" (or another PKI size code), "http_unreachable",
    "auth_failed", "command_error", "rolled_back", "rollback_unconfirmed",
    "issue_failed", "interrupted", "ecdsa_unsupported" (an EC CA in CA mode: the device
    rolled back after SetOption165 1; its firmware cannot verify ECDSA). ``detail`` is a
    short human text without secrets.
    """

    def __init__(self, step: EnrolmentStep, reason: str, detail: str | None = None) -> None:
        self.step = step
        self.reason = reason
        self.detail = detail
        self.record: EnrolmentRecord | None = None  # the FAILED record, once journaled
        super().__init__(f"{step}: {reason}" + (f" ({detail})" if detail else ""))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


Issuer = Callable[[], Awaitable["IssuedCredential"]]
"""Issues the device credential (the integration runs PkiStore.issue_device in the executor)."""

Journal = Callable[[EnrolmentRecord], Awaitable[None]]
"""Persists the record before each step (the integration uses an HA Store)."""
