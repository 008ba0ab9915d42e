"""EntrySettings: every option read once, with its default when the entry never set it."""

from __future__ import annotations

import datetime as dt

from custom_components.tasmota_tls.const import (
    DEFAULT_MAX_PARALLEL_ENROLMENTS,
    DEFAULT_RENEW_DAYS,
    FIXED_ACL_DENY,
)
from custom_components.tasmota_tls.settings import EngineTiming, EntrySettings

DATA = {"store_id": "s", "broker_host": "mqtt.lan", "broker_port": 8883, "custody": "attended"}


def test_defaults_when_no_option_is_set() -> None:
    settings = EntrySettings.from_mappings("entry", DATA, {})
    assert settings.renew_window == dt.timedelta(days=DEFAULT_RENEW_DAYS)
    assert settings.max_parallel == DEFAULT_MAX_PARALLEL_ENROLMENTS
    assert settings.fingerprint_mode and not settings.unattended
    assert settings.deny[: len(FIXED_ACL_DENY)] == FIXED_ACL_DENY
    assert "homeassistant/" in settings.deny


def test_options_override_and_deny_list_is_split() -> None:
    options = {"validation": "ca", "acl_deny": "a/, b/\nc/", "max_parallel_enrolments": 2}
    settings = EntrySettings.from_mappings("entry", {**DATA, "custody": "unattended"}, options)
    assert not settings.fingerprint_mode and settings.unattended
    assert settings.max_parallel == 2
    assert settings.deny == (*FIXED_ACL_DENY, "a/", "b/", "c/")


def test_engine_timing_sets_only_what_it_names() -> None:
    assert EngineTiming().as_options() == {}
    assert EngineTiming(step_timeout=1.0).as_options() == {"step_timeout": 1.0}
