"""What a device claims (name, topics) and the two reasons it may get no key for it.

A MAC whose topics reach into other applications' topics (the deny-list: ``$`` topics,
the discovery prefix, ``homeassistant/`` by default...) or do not name the device is
*refused*: its ACL would give it rights there. A MAC whose certificate name, topic, LWT
topic or any command/stat/tele root is already another enrolled MAC's is in *conflict*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..discovery import TasmotaDevice
from ..issues import ISSUE_IDENTITY_CONFLICT, ISSUE_TOPICS_REFUSED
from ..naming import certificate_name
from ..pki import PkiError
from ..pki.topics import TopicModel, denied_root


@dataclass(frozen=True)
class Refusal:
    """Why a MAC gets no key: an issue kind, the error's key and what to show."""

    kind: str
    placeholders: dict[str, str]


@dataclass(frozen=True)
class Claim:
    """The name and topics an enrolled MAC holds."""

    mac: str
    name: str | None
    ip: str
    topic: str | None
    lwt_topic: str | None
    roots: tuple[str, ...]


def _roots_overlap(roots: tuple[str, ...], others: tuple[str, ...]) -> str | None:
    for root in roots:
        for other in others:
            if root.startswith(other) or other.startswith(root):
                return other
    return None


def refused_topics(
    device: TasmotaDevice,
    deny: tuple[str, ...],
    acl_check: Callable[[TasmotaDevice, TopicModel], object],
) -> Refusal | None:
    """A refusal when the device's topics are not its own or reach a denied root.

    ``acl_check`` builds the device's ACL entry and raises PkiError when it cannot be one.
    """
    model = device.topics
    placeholders = {"mac": device.mac, "ip": device.ip, "topic": model.command_topic()}
    if not model.device_specific:
        rule = "%topic%, %hostname% or %id%"
        return Refusal(
            ISSUE_TOPICS_REFUSED, {**placeholders, "root": model.full_topic, "rule": rule}
        )
    denied = denied_root(model.bases(), deny)
    if denied is not None:
        root, rule = denied
        return Refusal(ISSUE_TOPICS_REFUSED, {**placeholders, "root": root, "rule": rule})
    try:
        acl_check(device, model)
    except PkiError as err:
        return Refusal(ISSUE_TOPICS_REFUSED, {**placeholders, "root": str(err), "rule": "-"})
    return None


def conflict(device: TasmotaDevice, claims: Iterable[Claim]) -> Refusal | None:
    """A refusal when ``device`` claims what another enrolled MAC holds."""
    model = device.topics
    name, roots = certificate_name(device), model.bases()
    for claim in claims:
        if claim.mac == device.mac:
            continue
        if claim.name == name:
            what = f"certificate name {name}"
        elif claim.topic == device.topic:
            what = f"topic {device.topic}"
        elif claim.lwt_topic == model.lwt_topic:
            what = f"LWT topic {model.lwt_topic}"
        elif (root := _roots_overlap(roots, claim.roots)) is not None:
            what = f"topics under {root}"
        else:
            continue
        return Refusal(
            ISSUE_IDENTITY_CONFLICT,
            {
                "mac": device.mac,
                "ip": device.ip,
                "topic": model.command_topic(),
                "owner_mac": claim.mac,
                "owner_ip": claim.ip,
                "owner_topic": claim.roots[0] if claim.roots else "",
                "claim": what,
            },
        )
    return None
