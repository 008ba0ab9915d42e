"""The hassfest checker passes our integration and every core one, and fails bad samples."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import homeassistant
import pytest
import yaml

from devtools import hassfest_check
from devtools.hassfest_check import ICONS_SCHEMA, SERVICES_SCHEMA, STRINGS_SCHEMA, validate

# The schema library words an unknown key its own way: probatio, which Home Assistant 2026.10
# validates with, says "not a valid option"; voluptuous (2026.8) "extra keys not allowed".
EXTRA_KEY = (
    "not a valid option" if importlib.util.find_spec("probatio") else "extra keys not allowed"
)

INTEGRATION = Path(__file__).parents[2] / "custom_components" / "tasmota_tls"
CORE = Path(homeassistant.__file__).parent / "components"
# Their strings.json have schemas of their own in hassfest.
SPECIAL_DOMAINS = {"auth", "onboarding", "homeassistant_hardware"}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "tasmota_tls"
    shutil.copytree(INTEGRATION, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_texts(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    for name in ("strings.json", "translations/en.json"):
        edit_json(folder / name, change)


def test_our_integration_passes() -> None:
    assert hassfest_check.check_integration(INTEGRATION) == []
    assert hassfest_check.main([str(INTEGRATION)]) == 0


def test_every_core_integration_passes() -> None:
    """No false alarms: the core integrations of this Home Assistant pass hassfest."""
    problems: list[str] = []
    checked = 0
    for folder in sorted(CORE.iterdir()):
        if folder.name in SPECIAL_DOMAINS:
            continue
        for name, schema in (("strings.json", STRINGS_SCHEMA), ("icons.json", ICONS_SCHEMA)):
            if (file := folder / name).is_file():
                checked += 1
                problems += validate(schema, json.loads(file.read_text()), f"{folder.name}/{name}")
        services = folder / "services.yaml"
        if services.is_file():
            data = yaml.safe_load(services.read_text()) or {}
            # Core-only: YAML anchors under ".name" keys, and feature filters that need the
            # entity platform imported.
            if any(key.startswith(".") for key in data) or "supported_features" in str(data):
                continue
            checked += 1
            problems += validate(SERVICES_SCHEMA, data, f"{folder.name}/services.yaml")
    assert checked > 1500
    assert problems == []


def _service_html(data: dict[str, Any]) -> None:
    data["services"]["export_trust_anchor"]["description"] = "Writes under tasmota_tls/<entry>/"


def _issue_both(data: dict[str, Any]) -> None:
    data["issues"]["crl_stale"]["fix_flow"] = data["issues"]["crl_stale_fixable"]["fix_flow"]


def _data_description_alone(data: dict[str, Any]) -> None:
    data["config"]["step"]["broker"]["data_description"]["nowhere"] = "No such field."


def _url(data: dict[str, Any]) -> None:
    data["config"]["error"]["invalid_host"] = "See https://example.com/help for help."


def _trailing_space(data: dict[str, Any]) -> None:
    data["config"]["abort"]["already_configured"] = "This CA is already set up. "


def _quoted_placeholder(data: dict[str, Any]) -> None:
    data["exceptions"]["export_failed"]["message"] = "Writing failed: '{error}'"


def _placeholder_in_state(data: dict[str, Any]) -> None:
    data["entity"]["sensor"]["tls_status"]["state"]["failed"] = "Failed at {step}"


def _bad_option_key(data: dict[str, Any]) -> None:
    data["selector"]["layout"]["options"]["Folder_"] = "One folder"


def _unbalanced(data: dict[str, Any]) -> None:
    data["exceptions"]["busy"]["message"] = "Busy {"


def _combined_reference(data: dict[str, Any]) -> None:
    data["exceptions"]["busy"]["message"] = "Busy: [%key:common::state::on%]"


def _missing_service_text(data: dict[str, Any]) -> None:
    del data["services"]["renew"]["fields"]["passphrase"]["description"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_service_html, "HTML"),
        (_issue_both, "fixable"),
        (_data_description_alone, "data_description without data"),
        (_url, "URL"),
        (_trailing_space, "whitespace"),
        (_quoted_placeholder, "single quotes"),
        (_placeholder_in_state, "placeholders are not allowed"),
        (_bad_option_key, "invalid translation key"),
        (_unbalanced, "unbalanced"),
        (_combined_reference, "reference"),
        (_missing_service_text, "description"),
    ],
)
def test_bad_texts_fail(
    copy: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit_texts(copy, change)
    problems = hassfest_check.check_integration(copy)
    assert len(problems) >= 2, problems  # strings.json and translations/en.json
    assert all(expected in problem for problem in problems), problems
    assert hassfest_check.main([str(copy)]) == 1


def test_an_issue_with_both_texts_is_named(copy: Path) -> None:
    edit_texts(copy, _issue_both)
    problems = hassfest_check.check_integration(copy)
    assert any("issues > crl_stale" in problem for problem in problems), problems


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["revoke"]["fields"]["reason"]["selector"]["select"].update(
            translation_key="no_such_texts"), "selector text no_such_texts missing"),
        (lambda d: d.update(purge={"fields": {}}), "purge has no icon"),
        (lambda d: d["renew"]["fields"].update(extra={"selector": {"text": {}}}),
         "renew.extra has no name"),
        (lambda d: d["renew"]["fields"]["device_id"].update(selector={"no_such": {}}),
         "device_id"),
        (lambda d: d["renew"]["fields"]["device_id"].update(example=None), "cannot be empty"),
    ],
)  # fmt: skip
def test_bad_services_fail(
    copy: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit_yaml(copy / "services.yaml", change)
    problems = hassfest_check.check_integration(copy)
    assert problems and any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["services"]["renew"].update(service="autorenew"), "mdi:"),
        (lambda d: d["entity"]["sensor"]["tls_status"].update(default="<b>x</b>"), "HTML"),
        (lambda d: d["entity"]["sensor"]["tls_status"]["state"].update(Bad="mdi:x"), "key"),
        (lambda d: d.update(unknown={}), f"unknown: {EXTRA_KEY}"),
    ],
)
def test_bad_icons_fail(
    copy: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit_json(copy / "icons.json", change)
    problems = hassfest_check.check_integration(copy)
    assert problems and all(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(version="not a version!"), "not a version"),
        (lambda d: d.update(documentation="http://example.com"), "https"),
        (lambda d: d.update(codeowners=[]), "no code owner"),
        (lambda d: d.update(codeowners=["someone"]), "@handle"),
        (lambda d: d.update(domain="tasmota_other"), "folder"),
        (lambda d: d.pop("iot_class"), "iot_class"),
        (lambda d: d.pop("issue_tracker"), "issue_tracker"),
        (lambda d: d.update(iot_class="local_pull"), "iot_class"),
        (lambda d: d.update({"aaa": 1}), f"aaa: {EXTRA_KEY}"),
    ],
)
def test_bad_manifests_fail(
    copy: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit_json(copy / "manifest.json", change)
    problems = hassfest_check.check_integration(copy)
    assert problems and any(expected in problem for problem in problems), problems


def test_unsorted_manifest_keys_fail(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    reordered = {"name": manifest.pop("name"), **manifest}
    (copy / "manifest.json").write_text(json.dumps(reordered))
    assert hassfest_check.check_integration(copy) == [
        "manifest.json: keys are not domain, name, then alphabetical"
    ]


def test_broken_files_fail(copy: Path) -> None:
    (copy / "icons.json").write_text("{")
    (copy / "services.yaml").write_text("a: [")
    (copy / "manifest.json").write_text("[]")
    problems = hassfest_check.check_integration(copy)
    assert any(p.startswith("icons.json: not readable JSON") for p in problems), problems
    assert any(p.startswith("services.yaml: not valid YAML") for p in problems), problems
    assert "manifest.json: not a JSON object" in problems
