"""What a device claims (name, topics) and the two reasons it may get no key for it.

A MAC whose topics reach into other applications' topics (the deny-list: ``$`` topics,
the discovery prefix, ``homeassistant/`` by default...) or do not name the device is
*refused*: its ACL would give it rights there. A MAC whose certificate name, topic, LWT
topic or any command/stat/tele root is already another enrolled MAC's is in *conflict*.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
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


class ClaimIndex:
    """The enrolled MACs' claims, indexed so that a check does not read every one.

    Discovery and status updates check each device against every enrolled MAC's claim:
    a scan of them all made that grow with the square of the fleet. The index finds
    the claims that share the device's name, topic or LWT topic, or whose roots lie
    above or below one of its roots; ``conflict`` then reads only those, in the
    claims' order, so the answer is the scan's.
    """

    def __init__(self, claims: Sequence[Claim]) -> None:
        """Index ``claims`` (kept in their order)."""
        self._claims = tuple(claims)
        self._exact: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        roots: list[tuple[str, int]] = []
        for position, claim in enumerate(self._claims):
            for kind, value in (("name", claim.name), ("topic", claim.topic),
                                ("lwt", claim.lwt_topic)):  # fmt: skip
                if value is not None:
                    self._exact[kind, value].append(position)
            for root in claim.roots:
                self._exact["root", root].append(position)
                roots.append((root, position))
        self._roots = sorted(roots)

    def conflict(self, device: TasmotaDevice) -> Refusal | None:
        """What ``conflict(device, claims)`` says, from the claims that can matter."""
        model = device.topics
        keys = [("name", certificate_name(device)), ("topic", device.topic),
                ("lwt", model.lwt_topic)]  # fmt: skip
        found: set[int] = set()
        for key in keys:
            found.update(self._exact.get(key, ()))
        for root in model.bases():
            for end in range(len(root) + 1):  # claimed roots that ``root`` starts with
                found.update(self._exact.get(("root", root[:end]), ()))
            below = bisect.bisect_left(self._roots, (root, -1))  # claimed roots below it
            while below < len(self._roots) and self._roots[below][0].startswith(root):
                found.add(self._roots[below][1])
                below += 1
        return conflict(device, (self._claims[position] for position in sorted(found)))
