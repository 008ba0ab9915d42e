"""Per-device Mosquitto ACLs, derived from each device's own discovery data.

A device may read only the commands meant for it and write only its own replies,
telemetry and discovery. The topics are expanded the way Tasmota's GetTopic_P builds
them, so a custom FullTopic or custom prefixes are honoured, not assumed.

What a device subscribes to (Tasmota's MqttConnected): ``<cmnd>/<topic>/#`` and, when its
FullTopic contains %topic%, each group topic and the fallback topic ``cmnd/<MqttClient>_fb/#``
(fallback topics always use the literal prefixes cmnd/stat/tele). At connect it also
publishes an empty ``<cmnd>/<topic>/POWER`` unless SetOption90 is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..pki.errors import PkiError
from ..pki.names import validate_common_name
from ..pki.topics import DEFAULT_FULL_TOPIC, DEFAULT_PREFIXES, TopicModel, denied_root

DISCOVERY_PREFIX = "tasmota/discovery"
DEFAULT_GROUP_TOPICS = ("tasmotas",)
# Fallback topics are built from these literals, whatever the configured prefixes are.
FALLBACK_PREFIXES = ("cmnd", "stat", "tele")
# Topic roots no device's rules may reach unless the caller says otherwise: the broker's
# own ($SYS and every $ topic), the discovery prefix (each device writes only its own
# tasmota/discovery/<MAC>/), Home Assistant's MQTT discovery and zigbee2mqtt's.
DEFAULT_DENY = ("$", f"{DISCOVERY_PREFIX}/", "homeassistant/", "zigbee2mqtt/")
# Home Assistant's Mosquitto add-on: its own clients must keep full access.
ADDON_SYSTEM_USERS = ("homeassistant", "addons")

_MAC = re.compile(r"^[0-9A-F]{12}$")
_FORBIDDEN = re.compile(r"[+#\s\x00]")


@dataclass(frozen=True)
class DeviceTopics:
    """What one device may use on the broker; `name` is its certificate CN (= MQTT username)."""

    name: str
    topic: str
    full_topic: str
    prefixes: tuple[str, str, str]
    mac: str | None  # 12 uppercase hex digits; None when unknown (no discovery rights then)
    hostname: str = ""
    mqtt_client: str | None = None  # MqttClient; default DVES_<last 6 of the MAC>
    group_topics: tuple[str, ...] = DEFAULT_GROUP_TOPICS

    def __post_init__(self) -> None:
        validate_common_name(self.name)
        if self.mac is not None and not _MAC.match(self.mac):
            raise PkiError(f"{self.mac!r} is not a 12-digit MAC.", code="invalid_mac")
        for topic in (*self.bases(), *self.group_bases()):
            _check_topic(self.name, topic)

    # ---- the topics, as the device builds them ------------------------------
    @property
    def model(self) -> TopicModel:
        """The device's topics, expanded as the firmware does (pki.topics)."""
        return TopicModel(self.topic, self.full_topic, self.prefixes, self.hostname, self.mac or "")

    def _base(self, index: int) -> str:
        return self.model.topic_for(index)

    @property
    def command_base(self) -> str:
        return self._base(0)

    @property
    def stat_base(self) -> str:
        return self._base(1)

    @property
    def tele_base(self) -> str:
        return self._base(2)

    @property
    def client_id(self) -> str | None:
        if self.mqtt_client:
            return self.mqtt_client
        return f"DVES_{self.mac[-6:]}" if self.mac else None

    def fallback_base(self, index: int) -> str | None:
        client = self.client_id
        return f"{FALLBACK_PREFIXES[index]}/{client}_fb/" if client else None

    @property
    def discovery_base(self) -> str | None:
        return f"{DISCOVERY_PREFIX}/{self.mac}/" if self.mac else None

    @property
    def uses_group_and_fallback(self) -> bool:
        """Tasmota subscribes to group and fallback topics only when FullTopic has %topic%."""
        return "%topic%" in self.full_topic

    def group_bases(self) -> tuple[str, ...]:
        """Group command topics (SetOption75 0 form, and the fixed cmnd/<group> form)."""
        bases: list[str] = []
        if not self.uses_group_and_fallback:
            return ()
        for group in self.group_topics:
            group_model = TopicModel(
                group, self.full_topic, self.prefixes, self.hostname, self.mac or ""
            )
            for base in (
                group_model.command_topic(),
                f"{FALLBACK_PREFIXES[0]}/{group}/",
            ):
                if base not in bases:
                    bases.append(base)
        return tuple(bases)

    def bases(self) -> tuple[str, ...]:
        """Every topic root that belongs to this device alone."""
        own = [self.command_base, self.stat_base, self.tele_base]
        own += [b for b in (self.fallback_base(0), self.fallback_base(1)) if b]
        if self.discovery_base:
            own.append(self.discovery_base)
        return tuple(own)

    # ---- the rules -----------------------------------------------------------
    def read_filters(self) -> tuple[str, ...]:
        reads = [self.command_base + "#", *(base + "#" for base in self.group_bases())]
        fallback = self.fallback_base(0)
        if fallback is not None and self.uses_group_and_fallback:
            reads.append(fallback + "#")
        return tuple(dict.fromkeys(reads))

    def write_filters(self) -> tuple[str, ...]:
        writes = [self.command_base + "POWER", self.stat_base + "#", self.tele_base + "#"]
        fallback = self.fallback_base(1)
        if fallback is not None and self.uses_group_and_fallback:
            writes.append(fallback + "#")
        if self.discovery_base:
            writes.append(self.discovery_base + "#")
        return tuple(dict.fromkeys(writes))


def _check_topic(name: str, topic: str) -> None:
    if _FORBIDDEN.search(topic) or "%" in topic or topic.startswith(("/", "$")):
        raise PkiError(
            f"Device {name}: topic {topic!r} cannot go into an ACL (wildcards, spaces, an "
            "unexpanded %token% or a leading / or $). Fix the device's Topic or FullTopic.",
            code="invalid_topic",
        )


def _text(config: Mapping[str, Any], key: str, default: str = "") -> str:
    value = config.get(key, default)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PkiError(f"Discovery field {key!r} is missing or not text.", code="invalid_discovery")
    return str(value)


def device_topics_from_discovery(
    config: Mapping[str, Any], *, name: str | None = None, mqtt_client: str | None = None
) -> DeviceTopics:
    """A device's topics from its retained ``tasmota/discovery/<MAC>/config`` JSON.

    ``name`` is the certificate CN (default: the device topic ``t``).
    """
    topic = _text(config, "t")
    full_topic = _text(config, "ft")
    if not topic or not full_topic:
        raise PkiError("Discovery config lacks the topic (t) or full topic (ft).",
                       code="invalid_discovery")  # fmt: skip
    prefixes = config.get("tp")
    if not (isinstance(prefixes, list | tuple) and len(prefixes) == 3
            and all(isinstance(p, str) and p for p in prefixes)):  # fmt: skip
        raise PkiError("Discovery field 'tp' must list three prefixes.", code="invalid_discovery")
    mac = _text(config, "mac").replace(":", "").replace("-", "").upper()
    return DeviceTopics(
        name=name or topic,
        topic=topic,
        full_topic=full_topic,
        prefixes=(prefixes[0], prefixes[1], prefixes[2]),
        mac=mac,
        hostname=_text(config, "hn"),
        mqtt_client=mqtt_client,
    )


def default_device_topics(name: str, topic: str | None = None) -> DeviceTopics:
    """Tasmota's defaults when no discovery data is at hand: no discovery or fallback rights."""
    return DeviceTopics(name, topic or name, DEFAULT_FULL_TOPIC, DEFAULT_PREFIXES, mac=None)


def _prefixes(topic: str) -> list[str]:
    """Each level prefix of a topic, with its trailing slash: a/b/c -> a/, a/b/."""
    levels = topic.split("/")
    return ["/".join(levels[:i]) + "/" for i in range(1, len(levels))]


def check_isolation(devices: Sequence[DeviceTopics]) -> None:
    """Refuse device sets where one device's rules would reach another device's topics.

    A device owns every topic under each of its bases (command, stat, tele, fallback,
    discovery). A rule ``P#`` reaches a base ``B`` when one of P and B starts with the
    other; a literal rule ``T`` when T starts with B. (Rules have no ``+``: validated.)
    """
    seen: set[str] = set()
    by_base: dict[str, set[str]] = {}
    by_prefix: dict[str, set[str]] = {}  # every level prefix of every base
    for device in devices:
        if device.name in seen:
            raise PkiError(f"Device {device.name} is listed twice.", code="duplicate_device")
        seen.add(device.name)
        for base in device.bases():
            by_base.setdefault(base, set()).add(device.name)
            for prefix in _prefixes(base + "x"):
                by_prefix.setdefault(prefix, set()).add(device.name)
    for device in devices:
        for rule in (*device.read_filters(), *device.write_filters()):
            wildcard = rule.endswith("/#")
            text = rule[:-1] if wildcard else rule  # "a/b/#" -> "a/b/"
            owners = set(by_prefix.get(text, ())) if wildcard else set()
            for prefix in _prefixes(text + ("x" if wildcard else "")):
                owners |= by_base.get(prefix, set())
            owners.discard(device.name)
            if owners:
                other = sorted(owners)[0]
                raise PkiError(
                    f"Devices {device.name} and {other} share topics ({rule} reaches topics "
                    f"of {other}); give each device its own Topic.",
                    code="topic_overlap",
                )


def check_denied(device: DeviceTopics, deny: Sequence[str]) -> None:
    """Refuse a device whose rules would reach a denied root (another application's topics).

    Its own discovery topic is exempt: the discovery prefix itself is usually denied.
    """
    roots = [base for base in (*device.bases(), *device.group_bases())
             if base != device.discovery_base]  # fmt: skip
    denied = denied_root(roots, deny)
    if denied is not None:
        root, entry = denied
        raise PkiError(
            f"Device {device.name}: its topics under {root} would reach {entry}, which the "
            "deny-list keeps for other applications. Fix the device's FullTopic or prefixes.",
            code="denied_topic",
        )


@dataclass(frozen=True)
class LeftOut:
    """A device the ACL leaves out, and why (a PkiError's code and text)."""

    name: str
    mac: str | None
    code: str
    reason: str


def admit(
    devices: Sequence[DeviceTopics], ha_identities: Sequence[str], deny: Sequence[str] = ()
) -> tuple[list[DeviceTopics], list[LeftOut]]:
    """The devices an ACL can hold, in order: the first claimant of a topic or name wins.

    One bad or conflicting device is left out (and reported) instead of stopping the
    ACL, and with it the CRL, for every device.
    """

    def problem(device: DeviceTopics, kept: Sequence[DeviceTopics]) -> PkiError | None:
        try:
            if device.name in ha_identities:
                raise PkiError(f"Device {device.name} has Home Assistant's name.",
                               code="name_conflict")  # fmt: skip
            check_denied(device, deny)
            check_isolation([*kept, device])
        except PkiError as err:
            return err
        return None

    if all(problem(device, ()) is None for device in devices):
        try:
            check_isolation(devices)  # the usual case: everyone fits, one pass
        except PkiError:
            pass
        else:
            return list(devices), []
    kept: list[DeviceTopics] = []
    left: list[LeftOut] = []
    for device in devices:
        err = problem(device, kept)
        if err is None:
            kept.append(device)
        else:
            left.append(LeftOut(device.name, device.mac, err.code or "invalid", str(err)))
    return kept, left


def render_acl(
    devices: Iterable[DeviceTopics],
    ha_identities: Sequence[str],
    *,
    local: str = "",
) -> str:
    """The acl_file text: full access for Home Assistant, per-device rules, nothing for others."""
    device_list = sorted(devices, key=lambda d: d.name)
    check_isolation(device_list)
    for device in device_list:
        if device.name in ha_identities:
            raise PkiError(
                f"Device {device.name} has Home Assistant's name and would get its full access.",
                code="name_conflict",
            )
    lines = [
        "# Mosquitto ACL written by tasmota-tls. Regenerating the bundle replaces this file;",
        "# put your own rules in the file of the same name plus .local, next to it.",
        "# A username (certificate CN) without a block below may not read or write anything.",
        "",
    ]
    for identity in dict.fromkeys(ha_identities):
        lines += [f"# {identity}: everything", f"user {identity}", "topic readwrite #", ""]
    for device in device_list:
        where = f"MAC {device.mac}" if device.mac else "no discovery data: no discovery rights"
        lines += [f"# device {device.name} (topic {device.topic}, {where})", f"user {device.name}"]
        lines += [f"topic read {rule}" for rule in device.read_filters()]
        lines += [f"topic write {rule}" for rule in device.write_filters()]
        lines.append("")
    if local.strip():
        lines += ["# ---- acl.local ----", local.rstrip("\n"), ""]
    return "\n".join(lines)
