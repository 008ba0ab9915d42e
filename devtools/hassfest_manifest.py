"""manifest.json checks, as hassfest's manifest.py applies them to a custom integration.

Plus what HACS and the quality scale need of it: a code owner, an https documentation
URL and an issue tracker.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import homeassistant  # noqa: F401  (first: Home Assistant 2026.10 installs probatio as voluptuous)
import voluptuous as vol
from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy

IOT_CLASSES = [
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
]
INTEGRATION_TYPES = ["device", "entity", "hardware", "helper", "hub", "service", "system"]


def _https(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https":
        raise vol.Invalid("the URL must start with https://")
    if parsed.netloc == "www.home-assistant.io" and not parsed.path.startswith("/integrations/"):
        raise vol.Invalid("home-assistant.io documentation lives under /integrations/")
    return value


def _version(value: str) -> str:
    strategies = [
        AwesomeVersionStrategy.CALVER,
        AwesomeVersionStrategy.SEMVER,
        AwesomeVersionStrategy.SIMPLEVER,
        AwesomeVersionStrategy.BUILDVER,
        AwesomeVersionStrategy.PEP440,
    ]
    try:
        AwesomeVersion(value, ensure_strategy=strategies)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a version") from err
    return value


def _owner(value: str) -> str:
    if not value.startswith("@") or len(value) < 2:
        raise vol.Invalid("a code owner is a GitHub @handle")
    return value


MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): list,
        vol.Optional("ssdp"): list,
        vol.Optional("bluetooth"): list,
        vol.Optional("homekit"): dict,
        vol.Optional("dhcp"): list,
        vol.Optional("usb"): list,
        vol.Required("documentation"): vol.All(vol.Url(), _https),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("quality_scale"): vol.In(["internal", "silver", "gold", "platinum"]),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [_owner],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("iot_class"): vol.In(IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Required("version"): vol.All(str, _version),  # required of custom integrations
        vol.Optional("import_executor"): bool,
    }
)


def _where(err: vol.Invalid) -> str:
    return " > ".join(str(part) for part in err.path) or "(top)"


def validate(schema: Any, data: Any, name: str) -> list[str]:
    """Every error ``schema`` finds in ``data``, one line each."""
    try:
        schema(data)
    except vol.MultipleInvalid as err:
        return [f"{name}: {_where(error)}: {error.msg}" for error in err.errors]
    except vol.Invalid as err:
        return [f"{name}: {_where(err)}: {err.msg}"]
    return []


def _sort_key(key: str) -> str:
    return {"domain": "\0", "name": "\1"}.get(key, key)


def check_manifest(manifest: dict[str, Any], folder: str) -> list[str]:
    """Every problem in ``manifest`` of the integration in ``folder``."""
    problems = validate(MANIFEST_SCHEMA, manifest, "manifest.json")
    if manifest.get("domain") != folder:
        problems.append("manifest.json: the domain is not the folder's name")
    if "iot_class" not in manifest:
        problems.append("manifest.json: no iot_class")
    keys = list(manifest)
    if keys != sorted(keys, key=_sort_key):
        problems.append("manifest.json: keys are not domain, name, then alphabetical")
    # HACS and the quality scale: a real owner and tracker, not an empty list.
    if not manifest.get("codeowners"):
        problems.append("manifest.json: no code owner")
    if "issue_tracker" not in manifest:
        problems.append("manifest.json: no issue_tracker")
    return problems
