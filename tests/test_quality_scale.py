"""quality_scale.yaml tells the truth: every rule of 2026.10 listed, Bronze to Gold done or
exempt, and every done rule backed by a named test, file or README section (EVIDENCE)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
INTEGRATION = REPO / "custom_components" / "tasmota_tls"

# script/hassfest/quality_scale.py ALL_RULES, by tier.
TIERS = {
    "bronze": [
        "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
        "config-flow-test-coverage", "dependency-transparency", "docs-actions",
        "docs-high-level-description", "docs-installation-instructions",
        "docs-removal-instructions", "entity-event-setup", "entity-unique-id",
        "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
        "docs-installation-parameters", "entity-unavailable", "integration-owner",
        "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    ],
    "gold": [
        "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
        "docs-examples", "docs-known-limitations", "docs-supported-devices",
        "docs-supported-functions", "docs-troubleshooting", "docs-use-cases",
        "dynamic-devices", "entity-category", "entity-device-class",
        "entity-disabled-by-default", "entity-translations", "exception-translations",
        "icon-translations", "reconfiguration-flow", "repair-issues", "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}  # fmt: skip

IT = "tests/integration/"
# What each rule marked done rests on: "path::test_name" (the test must exist in that
# file), "path" (the file must exist), or "README.md#Heading" (the section must exist).
EVIDENCE: dict[str, list[str]] = {
    "action-setup": [f"{IT}test_init.py::test_action_descriptions_load"],
    "appropriate-polling": [f"{IT}test_lifecycle.py::test_crl_is_renewed_early_or_reported"],
    "brands": [
        "brands/custom_integrations/tasmota_tls/icon.png",
        "brands/custom_integrations/tasmota_tls/icon@2x.png",
        "brands/custom_integrations/tasmota_tls/logo.png",
    ],
    "common-modules": ["custom_components/tasmota_tls/entity.py"],
    "config-flow-test-coverage": [f"{IT}test_config_flow.py::test_create_ca_form_errors"],
    "config-flow": [f"{IT}test_config_flow.py::test_create_ca_unattended"],
    "dependency-transparency": [f"{IT}test_init.py::test_manifest_keys_in_hassfest_order"],
    "docs-actions": ["README.md#Actions"],
    "docs-high-level-description": ["README.md#Tasmota TLS"],
    "docs-installation-instructions": ["README.md#Installing the integration with HACS"],
    "docs-removal-instructions": ["README.md#Removing the integration"],
    "entity-event-setup": [f"{IT}test_devices.py::test_status_follows_lwt_and_status6"],
    "entity-unique-id": [f"{IT}test_quality_scale_items.py::test_entities_and_diagnostics_snapshot"],
    "has-entity-name": [f"{IT}test_quality_scale_items.py::test_entities_and_diagnostics_snapshot"],
    "runtime-data": [f"{IT}test_init.py::test_setup_and_unload"],
    "test-before-configure": [
        f"{IT}test_config_flow.py::test_broker_host_validated",
        f"{IT}test_broker_step.py::test_broker_port_that_does_not_answer_warns",
    ],
    "test-before-setup": [
        f"{IT}test_init.py::test_setup_waits_for_mqtt",
        f"{IT}test_init.py::test_unreadable_store_fails_setup",
    ],
    "unique-config-entry": [f"{IT}test_config_flow.py::test_same_ca_twice_is_refused"],
    "action-exceptions": [f"{IT}test_services.py::test_unknown_and_absent_devices"],
    "config-entry-unloading": [f"{IT}test_init.py::test_setup_and_unload"],
    "docs-configuration-parameters": ["README.md#Installing the integration with HACS"],
    "docs-installation-parameters": ["README.md#Installing the integration with HACS"],
    "entity-unavailable": [f"{IT}test_devices.py::test_removed_device"],
    "integration-owner": ["README.md#Publishing"],
    "log-when-unavailable": [f"{IT}test_devices.py::test_removed_device"],
    "parallel-updates": ["custom_components/tasmota_tls/sensor.py"],
    "devices": [f"{IT}test_device_links.py"],
    "diagnostics": [
        f"{IT}test_diagnostics.py::test_no_secret_in_diagnostics_events_logs_or_errors",
        f"{IT}test_quality_scale_items.py::test_entities_and_diagnostics_snapshot",
    ],
    "discovery": [f"{IT}test_config_flow.py::test_mqtt_discovery_offers_the_integration"],
    "docs-data-update": ["README.md#How data updates"],
    "docs-examples": ["README.md#Examples", "blueprints/automation/tasmota_tls/certificates.yaml"],
    "docs-known-limitations": ["README.md#Known limitations"],
    "docs-supported-devices": ["README.md#Supported devices"],
    "docs-supported-functions": ["README.md#Actions", "README.md#Installing the integration with HACS"],
    "docs-troubleshooting": ["README.md#Troubleshooting"],
    "docs-use-cases": ["README.md#Use cases"],
    "dynamic-devices": [f"{IT}test_devices.py::test_removed_device"],
    "entity-category": [f"{IT}test_quality_scale_items.py::test_entities_and_diagnostics_snapshot"],
    "entity-device-class": [f"{IT}test_quality_scale_items.py::test_entities_and_diagnostics_snapshot"],
    "entity-translations": [f"{IT}test_init.py::test_every_translation_key_in_the_code_has_a_text"],
    "exception-translations": [f"{IT}test_services.py::test_export_failure_is_translated"],
    "icon-translations": ["tests/devtools/test_hassfest_check.py::test_our_integration_passes"],
    "reconfiguration-flow": [f"{IT}test_config_flow.py::test_reconfigure_broker"],
    "repair-issues": [
        f"{IT}test_lifecycle.py::test_attended_crl_repair_asks_for_the_passphrase",
        f"{IT}test_quality_scale_items.py::test_attended_crl_repair_reports_a_store_failure",
    ],
    "stale-devices": [f"{IT}test_devices.py::test_removed_device"],
    "inject-websession": ["custom_components/tasmota_tls/enrolment/ha_transport.py"],
    "strict-typing": ["scripts/lint"],
    "test-coverage": ["pyproject.toml", ".ci/run"],
}  # fmt: skip


def rules() -> dict[str, dict[str, str]]:
    data = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    return {
        name: value if isinstance(value, dict) else {"status": value}
        for name, value in data.items()
    }


def test_every_rule_is_listed() -> None:
    assert set(rules()) == {rule for tier in TIERS.values() for rule in tier}


def test_bronze_silver_gold_are_done_or_exempt() -> None:
    listed = rules()
    for tier in ("bronze", "silver", "gold"):
        for rule in TIERS[tier]:
            assert listed[rule]["status"] in ("done", "exempt"), rule


def test_every_exemption_gives_its_reason() -> None:
    for rule, value in rules().items():
        if value["status"] == "exempt":
            assert len(value.get("comment", "")) > 40, f"{rule}: an exemption needs its reason"


def _headings() -> set[str]:
    text = (REPO / "README.md").read_text()
    return {match.group(1).strip() for match in re.finditer(r"^#+ (.+)$", text, re.M)}


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_done_rule_has_evidence_that_exists() -> None:
    headings = _headings()
    for rule, value in rules().items():
        if value["status"] != "done":
            continue
        assert EVIDENCE.get(rule), f"{rule} is done but names no evidence"
        for item in EVIDENCE[rule]:
            if item.startswith("README.md#"):
                assert item.removeprefix("README.md#") in headings, f"{rule}: {item}"
                continue
            path, _, test = item.partition("::")
            assert (REPO / path).is_file(), f"{rule}: {path} is missing"
            if test:
                assert test in _tests_in(REPO / path), f"{rule}: {item} is missing"


def test_no_evidence_for_rules_that_are_not_done() -> None:
    listed = rules()
    assert {rule for rule in EVIDENCE if listed[rule]["status"] != "done"} == set()


def test_the_repository_url_is_set_in_one_place() -> None:
    """A publisher changes the repository in manifest.json only (README, Publishing)."""
    manifest = (INTEGRATION / "manifest.json").read_text()
    url = re.search(r'"documentation": "(https://github.com/[^"]+)"', manifest)
    assert url is not None
    shipped = [
        p for p in INTEGRATION.rglob("*") if p.is_file() and p.suffix in (".py", ".json", ".yaml")
    ]
    elsewhere = [p for p in shipped if p.name != "manifest.json" and url.group(1) in p.read_text()]
    assert elsewhere == []
    assert f"{url.group(1)}/issues" in manifest
