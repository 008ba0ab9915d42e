"""The checks hassfest applies to an integration's text and metadata files, for CI.

hassfest does not run on custom integrations in our CI, and the quality scale claims Gold,
so this applies the same rules, written from reading Home Assistant 2026.10's
script/hassfest (translations.py, services.py, icons.py, manifest.py), to:
strings.json, translations/en.json, services.yaml, icons.json and manifest.json. Where
hassfest is stricter for core integrations than for custom ones (every action needs an
icon, a name and a description in the translations), the core rule applies.

    python -m devtools.hassfest_check [INTEGRATION_DIR]

prints one line per problem and exits 1 if there is any. Values are validated with Home
Assistant's own validators (config_validation, selector), so the venv's Home Assistant is
the version checked against.
"""

from __future__ import annotations

import json
import re
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import homeassistant.helpers.config_validation as cv  # first: it installs probatio
import voluptuous as vol
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import selector
from homeassistant.util.yaml import load_yaml_dict

from devtools.hassfest_manifest import check_manifest, validate

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "custom_components" / "tasmota_tls"

# Translation keys: lowercase letters, digits, - and _, neither at either end nor doubled.
_KEY = re.compile(r"^(?![_-])(?!.*[_-]{2})[a-z0-9_-]+(?<![_-])$")
_REFERENCE = re.compile(r"\[%key:[^%]+%\]")
_URL = re.compile(
    r"((ftp|ftps|scp|https?|mqtts?|socket|socks5)://|www\.)[a-z0-9]+([-.][a-z0-9]+)*"
    r"\.[a-z]{2,5}(:\d{1,5})?(/.*)?",
    re.IGNORECASE,
)
_QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")


def translation_key(value: Any) -> str:
    """A key under selector options, entity names, states, services and fields."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise vol.Invalid(f"invalid translation key {value!r}")
    return value


def text(*, placeholders: bool = True) -> Callable[[Any], str]:
    """A translated string: what hassfest's translation value validator refuses."""

    def validate(value: Any) -> str:
        value = cv.string_with_no_html(value)
        if _QUOTED_PLACEHOLDER.search(value):
            raise vol.Invalid("placeholder inside single quotes")
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field]
        except ValueError as err:
            raise vol.Invalid(f"unbalanced braces: {err}") from None
        if fields and not placeholders:
            raise vol.Invalid("placeholders are not allowed here")
        if any(not field.isidentifier() for field in fields):
            raise vol.Invalid("placeholders must be identifiers")
        if _REFERENCE.search(value) and _REFERENCE.fullmatch(value) is None:
            raise vol.Invalid("a reference must be the whole string (no combined texts)")
        if value != value.strip():
            raise vol.Invalid("leading or trailing whitespace")
        if _URL.search(value):
            raise vol.Invalid("URL in a translation: use a placeholder")
        return value

    return validate


TEXT = text()
PLAIN = text(placeholders=False)


def keyed(value_schema: Any, key: Callable[[Any], str] = translation_key) -> Any:
    return cv.schema_with_slug_keys(value_schema, slug_validator=key)


def _data_descriptions_have_data(value: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in value.get("step", {}).items():
        missing = set(step.get("data_description", {})) - set(step.get("data", {}))
        if missing:
            raise vol.Invalid(f"step {step_id}: data_description without data: {missing}")
    return value


def flow_schema(*, subentry: bool = False) -> Any:
    """config, options, a subentry flow, and an issue's fix_flow."""
    texts = {str: TEXT}
    step = {
        vol.Optional("title"): TEXT,
        vol.Optional("description"): TEXT,
        vol.Optional("data"): texts,
        vol.Optional("data_description"): texts,
        vol.Optional("menu_options"): texts,
        vol.Optional("menu_option_descriptions"): texts,
        vol.Optional("submit"): TEXT,
        vol.Optional("sections"): {
            str: {
                vol.Optional("name"): TEXT,
                vol.Optional("description"): TEXT,
                vol.Optional("data"): texts,
                vol.Optional("data_description"): texts,
            }
        },
    }
    schema: dict[Any, Any] = {
        vol.Optional("flow_title"): TEXT,
        vol.Required("step"): {str: step},
        vol.Optional("initiate_flow"): {vol.Required("user"): TEXT},
        **{vol.Optional(name): texts for name in ("error", "abort", "progress", "create_entry")},
    }
    if subentry:
        schema[vol.Required("entry_type")] = TEXT
        schema[vol.Required("initiate_flow")] = {vol.Required("user"): TEXT, str: TEXT}
    return vol.All(vol.Schema(schema), _data_descriptions_have_data)


_FIELDS = keyed(
    {vol.Required("name"): str, vol.Required("description"): TEXT, vol.Optional("example"): TEXT}
)
_ATTRIBUTES = keyed({vol.Optional("name"): PLAIN, vol.Optional("state"): keyed(PLAIN)})
STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): flow_schema(),
        vol.Optional("options"): flow_schema(),
        vol.Optional("config_subentries"): keyed(flow_schema(subentry=True), vol.Any("_", cv.slug)),
        vol.Optional("selector"): keyed(
            {
                vol.Optional("options"): keyed(TEXT),
                vol.Optional("choices"): keyed(TEXT),
                vol.Optional("unit_of_measurement"): keyed(TEXT),
                vol.Optional("fields"): vol.Any(
                    keyed(str),
                    keyed({vol.Required("name"): str, vol.Required("description"): TEXT}),
                ),
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("issues"): {
            # 2026.10 accepts a title-only issue (sensor, vacuum ship some); never both a
            # description and a fix flow: a fixable issue shows the flow's texts.
            str: {
                vol.Required("title"): TEXT,
                vol.Optional("short_title"): TEXT,
                vol.Exclusive("description", "fixable"): TEXT,
                vol.Exclusive("fix_flow", "fixable"): flow_schema(),
            }
        },
        vol.Optional("entity"): keyed(
            keyed(
                {
                    vol.Optional("name"): TEXT,
                    vol.Optional("state"): keyed(PLAIN),
                    vol.Optional("state_attributes"): _ATTRIBUTES,
                    vol.Optional("unit_of_measurement"): PLAIN,
                }
            ),
            cv.slug,
        ),
        vol.Optional("entity_component"): keyed(
            {
                vol.Optional("name"): str,
                vol.Optional("state"): keyed(PLAIN),
                vol.Optional("state_attributes"): _ATTRIBUTES,
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("device"): keyed({vol.Optional("name"): TEXT}),
        vol.Optional("exceptions"): keyed({vol.Optional("message"): TEXT}, cv.slug),
        vol.Optional("services"): keyed(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): _FIELDS,
                vol.Optional("sections"): keyed(
                    {vol.Required("name"): str, vol.Optional("description"): TEXT}
                ),
            }
        ),
        vol.Optional("device_automation"): {str: {str: TEXT}},
        vol.Optional("system_health"): {vol.Optional("info"): keyed(TEXT)},
        vol.Optional("application_credentials"): {vol.Optional("description"): TEXT},
        vol.Optional("conditions"): keyed(dict, cv.underscore_slug),
        vol.Optional("triggers"): keyed(dict, cv.underscore_slug),
        vol.Optional("common"): {cv.slug: TEXT},
        vol.Optional("preview_features"): keyed(dict),
        vol.Optional("conversation"): {vol.Required("agent"): {vol.Required("done"): TEXT}},
        vol.Optional("config_panel"): dict,
    }
)


def _present(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("an example or default cannot be empty")
    return value


_FIELD = vol.Schema(
    {
        vol.Optional("name"): str,
        vol.Optional("description"): str,
        vol.Optional("example"): _present,
        vol.Optional("default"): _present,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional("selector"): selector.validate_selector,
        vol.Optional("filter"): dict,
    }
)
_SECTION = vol.Schema(
    {
        vol.Optional("name"): str,
        vol.Optional("description"): str,
        vol.Optional("collapsed"): bool,
        vol.Required("fields"): {str: _FIELD},
    }
)
_SERVICE = vol.Schema(
    {
        vol.Optional("name"): str,
        vol.Optional("description"): str,
        vol.Optional("target"): vol.Any(selector.TargetSelector.CONFIG_SCHEMA, None),
        vol.Optional("fields"): {str: vol.Any(_FIELD, _SECTION)},
    }
)
SERVICES_SCHEMA = vol.Schema({cv.slug: vol.Any(_SERVICE, None)})


def mdi(value: Any) -> str:
    value = cv.string_with_no_html(value)
    if not value.startswith("mdi:"):
        raise vol.Invalid("an icon must start with mdi:")
    return value


def _no_state_icon_is_default(value: dict[str, Any]) -> dict[str, Any]:
    for key, icons in value.items():
        default = icons.get("default") if isinstance(icons, dict) else None
        for state, icon in (icons.get("state") or {}).items() if default else ():
            if icon == default:
                raise vol.Invalid(f"{key}: the icon of state {state} is the default icon")
    return value


_ICON_STATES = keyed(mdi)
_RANGE = vol.Schema({vol.Coerce(float): mdi})


def _entity_icons(key: Any) -> Any:
    """Icons by translation key; a state icon equal to the default is refused where
    2026.10's hassfest refuses it (entity components and state attributes)."""
    schema = keyed(
        {
            vol.Optional("default"): mdi,
            vol.Optional("state"): _ICON_STATES,
            vol.Optional("range"): _RANGE,
            vol.Optional("state_attributes"): vol.All(
                keyed(
                    {
                        vol.Optional("default"): mdi,
                        vol.Optional("state"): _ICON_STATES,
                        vol.Optional("range"): _RANGE,
                    }
                ),
                _no_state_icon_is_default,
            ),
        },
        key,
    )
    return vol.All(schema, _no_state_icon_is_default) if key is not translation_key else schema


_FLOW_ICONS = vol.Schema({"step": {str: {"sections": {str: mdi}}}})
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("config"): _FLOW_ICONS,
        vol.Optional("options"): _FLOW_ICONS,
        vol.Optional("issues"): {str: {"fix_flow": _FLOW_ICONS}},
        vol.Optional("services"): keyed(
            vol.Any(mdi, {vol.Optional("service"): mdi, vol.Optional("sections"): keyed(mdi)})
        ),
        vol.Optional("entity"): keyed(_entity_icons(translation_key), cv.slug),
        vol.Optional("entity_component"): _entity_icons(vol.Any("_", cv.slug)),
        vol.Optional("conditions"): keyed(vol.Any(mdi, dict), cv.underscore_slug),
        vol.Optional("triggers"): keyed(vol.Any(mdi, dict), cv.underscore_slug),
    }
)


def _load_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        problems.append(f"{path.name}: not readable JSON: {err}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name}: not a JSON object")
        return None
    return data


def check_services(
    services: dict[str, Any], en: dict[str, Any], icons: dict[str, Any]
) -> list[str]:
    """services.yaml against the English texts and the icons (the core rules)."""
    problems = validate(SERVICES_SCHEMA, services, "services.yaml")
    texts = en.get("services", {})
    for name, service in services.items():
        if name not in icons.get("services", {}):
            problems.append(f"services.yaml: {name} has no icon in icons.json")
        for part in ("name", "description"):
            if part not in (service or {}) and part not in texts.get(name, {}):
                problems.append(f"services.yaml: {name} has no {part} in translations/en.json")
        for field, spec in ((service or {}).get("fields") or {}).items():
            if "fields" in spec:  # a section
                if "name" not in texts.get(name, {}).get("sections", {}).get(field, {}):
                    problems.append(f"services.yaml: {name} section {field} has no name")
                continue
            known = texts.get(name, {}).get("fields", {}).get(field, {})
            for part in ("name", "description"):
                if part not in spec and part not in known:
                    problems.append(f"services.yaml: {name}.{field} has no {part} in the texts")
            key = (spec.get("selector") or {}).get("select", {}) or {}
            if "translation_key" in key and key["translation_key"] not in en.get("selector", {}):
                problems.append(
                    f"services.yaml: {name}.{field}: selector text {key['translation_key']} missing"
                )
    return problems


def check_integration(path: Path) -> list[str]:
    """Every problem found in the integration folder ``path``."""
    problems: list[str] = []
    en: dict[str, Any] = {}
    for name in ("strings.json", "translations/en.json"):
        if (file := path / name).is_file() and (data := _load_json(file, problems)) is not None:
            problems += validate(STRINGS_SCHEMA, data, name)
            en = data if name.endswith("en.json") else en
    icons: dict[str, Any] = {}
    if (file := path / "icons.json").is_file():
        icons = _load_json(file, problems) or {}
        problems += validate(ICONS_SCHEMA, icons, "icons.json")
    if (file := path / "services.yaml").is_file():
        try:
            services = load_yaml_dict(str(file))
        except HomeAssistantError as err:
            problems.append(f"services.yaml: not valid YAML: {err}")
        else:
            problems += check_services(services, en, icons)
    if (file := path / "manifest.json").is_file() and (
        manifest := _load_json(file, problems)
    ) is not None:
        problems += check_manifest(manifest, path.name)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_DIR
    problems = check_integration(path)
    for problem in problems:
        print(f"{path.name}/{problem}")
    if not problems:
        print(f"{path.name}: strings, translations, services, icons and manifest pass")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
