"""The entry's settings, typed, each with its default in one place.

Read once per set-up: an options change reloads the entry (``__init__.py``), so
nothing needs to look at ``entry.options`` again while the entry runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast

from homeassistant.config_entries import ConfigEntry

from .const import (
    CONF_ACL_DENY,
    CONF_AUTO_ENROL,
    CONF_AUTO_RENEW,
    CONF_BROKER_HOST,
    CONF_BROKER_PORT,
    CONF_CHANNEL,
    CONF_CUSTODY,
    CONF_HTTP_PORT,
    CONF_MAX_PARALLEL_ENROLMENTS,
    CONF_RENEW_DAYS,
    CONF_RENEW_OVER_TLS,
    CONF_ROLLBACK_MINUTES,
    CONF_STORE_ID,
    CONF_VALIDATION,
    CUSTODY_UNATTENDED,
    DEFAULT_ACL_DENY,
    DEFAULT_AUTO_ENROL,
    DEFAULT_AUTO_RENEW,
    DEFAULT_CHANNEL,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_PARALLEL_ENROLMENTS,
    DEFAULT_RENEW_DAYS,
    DEFAULT_RENEW_OVER_TLS,
    DEFAULT_ROLLBACK_MINUTES,
    DEFAULT_VALIDATION,
    FIXED_ACL_DENY,
    VALIDATION_FINGERPRINT,
)


def deny_list(text: str) -> tuple[str, ...]:
    """The deny-list option (one prefix per line or comma), plus the fixed entries."""
    entries = [part.strip() for line in text.splitlines() for part in line.split(",")]
    return (*FIXED_ACL_DENY, *(entry for entry in entries if entry))


# Every option's default, once: the settings read them, the forms show them.
OPTION_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        CONF_RENEW_DAYS: DEFAULT_RENEW_DAYS,
        CONF_AUTO_RENEW: DEFAULT_AUTO_RENEW,
        CONF_AUTO_ENROL: DEFAULT_AUTO_ENROL,
        CONF_VALIDATION: DEFAULT_VALIDATION,
        CONF_CHANNEL: DEFAULT_CHANNEL,
        CONF_HTTP_PORT: DEFAULT_HTTP_PORT,
        CONF_ROLLBACK_MINUTES: DEFAULT_ROLLBACK_MINUTES,
        CONF_MAX_PARALLEL_ENROLMENTS: DEFAULT_MAX_PARALLEL_ENROLMENTS,
        CONF_RENEW_OVER_TLS: DEFAULT_RENEW_OVER_TLS,
        CONF_ACL_DENY: DEFAULT_ACL_DENY,
    }
)


@dataclass(frozen=True)
class EntrySettings:
    """Every setting of one entry: the broker and custody (data) and the options."""

    entry_id: str
    store_id: str
    broker_host: str
    broker_port: int
    custody: str
    renew_days: int = DEFAULT_RENEW_DAYS
    auto_renew: bool = DEFAULT_AUTO_RENEW
    auto_enrol: bool = DEFAULT_AUTO_ENROL
    validation: Literal["fingerprint", "ca"] = DEFAULT_VALIDATION
    channel: Literal["http", "mqtt"] = DEFAULT_CHANNEL
    http_port: int = DEFAULT_HTTP_PORT
    rollback_minutes: int = DEFAULT_ROLLBACK_MINUTES
    max_parallel: int = DEFAULT_MAX_PARALLEL_ENROLMENTS
    acl_deny: str = DEFAULT_ACL_DENY
    renew_over_tls: bool = DEFAULT_RENEW_OVER_TLS

    @classmethod
    def from_entry(cls, entry: ConfigEntry[Any]) -> EntrySettings:
        """The entry's data and options; an option never set takes its default."""
        data, options = entry.data, entry.options
        return cls.from_mappings(entry.entry_id, data, options)

    @classmethod
    def from_mappings(
        cls, entry_id: str, data: Mapping[str, Any], options: Mapping[str, Any]
    ) -> EntrySettings:
        """As :meth:`from_entry`, from the two mappings."""

        def option(key: str) -> Any:
            value = options.get(key)
            return OPTION_DEFAULTS[key] if value is None else value

        return cls(
            entry_id=entry_id,
            store_id=str(data[CONF_STORE_ID]),
            broker_host=str(data[CONF_BROKER_HOST]),
            broker_port=int(data[CONF_BROKER_PORT]),
            custody=str(data[CONF_CUSTODY]),
            renew_days=int(option(CONF_RENEW_DAYS)),
            auto_renew=bool(option(CONF_AUTO_RENEW)),
            auto_enrol=bool(option(CONF_AUTO_ENROL)),
            validation=cast(Literal["fingerprint", "ca"], option(CONF_VALIDATION)),
            channel=cast(Literal["http", "mqtt"], option(CONF_CHANNEL)),
            http_port=int(option(CONF_HTTP_PORT)),
            rollback_minutes=int(option(CONF_ROLLBACK_MINUTES)),
            max_parallel=int(option(CONF_MAX_PARALLEL_ENROLMENTS)),
            acl_deny=str(option(CONF_ACL_DENY)),
            renew_over_tls=bool(option(CONF_RENEW_OVER_TLS)),
        )

    @property
    def unattended(self) -> bool:
        """The CA passphrase is kept (in the private secrets file)."""
        return self.custody == CUSTODY_UNATTENDED

    @property
    def fingerprint_mode(self) -> bool:
        """Devices pin the broker's key rather than validate its chain."""
        return self.validation == VALIDATION_FINGERPRINT

    @property
    def renew_window(self) -> dt.timedelta:
        """How long before expiry a certificate is renewed."""
        return dt.timedelta(days=self.renew_days)

    @property
    def deny(self) -> tuple[str, ...]:
        """Topic roots no device's ACL may reach."""
        return deny_list(self.acl_deny)


@dataclass(frozen=True)
class EngineTiming:
    """How long the enrolment engine waits on devices; None keeps the engine's default.

    Not a user option: real devices need the engine's defaults. Tests build the runtime
    with shorter waits (runtime.build_runtime's ``timing``).
    """

    step_timeout: float | None = None
    poll_interval: float | None = None
    wait_online_timeout: float | None = None

    def as_options(self) -> dict[str, Any]:
        """The EnrolmentOptions fields this timing sets."""
        values = {
            "step_timeout": self.step_timeout,
            "poll_interval": self.poll_interval,
            "wait_online_timeout": self.wait_online_timeout,
        }
        return {key: value for key, value in values.items() if value is not None}
