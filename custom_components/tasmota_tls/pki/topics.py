"""Tasmota's topic model: the one place that expands a FullTopic into real topics.

The discovery parser, the ACL writer, the enrolment engine, the address pins and the
command-line size guard all build a device's topics here, so each of them sees the
topic the firmware would really use. It follows the firmware's GetTopic_P
(tasmota/tasmota_support/support_tasmota.ino):

- a FullTopic without ``%prefix%`` gets ``/%prefix%`` appended for commands only, so a
  device never takes its own replies for commands;
- ``%prefix%`` and ``%topic%`` are replaced first, then ``%hostname%`` and ``%id%`` (the
  whole MAC: ``WiFi.macAddress()`` without colons, 12 uppercase hex digits);
- ``#`` is dropped, ``//`` becomes ``/``, and the result ends with ``/``.

No Home Assistant import and nothing newer than Python 3.11: the command-line tool runs
on the CA machine's system Python (Debian 12).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

PREFIX_CMND = 0
PREFIX_STAT = 1
PREFIX_TELE = 2
DEFAULT_FULL_TOPIC = "%prefix%/%topic%/"
DEFAULT_PREFIXES: tuple[str, str, str] = ("cmnd", "stat", "tele")
# Tokens that make a FullTopic name one device; without any of them every device with
# the same prefixes shares the same topics.
DEVICE_TOKENS = ("%topic%", "%hostname%", "%id%")
# Unknown values are filled in at their longest so that a size check errs on the safe
# side: Tasmota's host name holds at most 32 characters, %id% is always 12.
MAX_HOSTNAME_CHARS = 32
MAC_CHARS = 12


def expand(
    full_topic: str,
    prefix_index: int,
    prefixes: Sequence[str],
    topic: str,
    hostname: str | None = "",
    mac: str | None = "",
    suffix: str = "",
) -> str:
    """The topic for one prefix, with ``suffix`` appended, exactly as GetTopic_P builds it.

    ``hostname`` or ``mac`` given as None means "not known": the longest value the
    firmware allows stands in, for size checks only.
    """
    text = full_topic
    if prefix_index == PREFIX_CMND and "%prefix%" not in text:
        text += "/%prefix%"
    text = text.replace("%prefix%", prefixes[prefix_index]).replace("%topic%", topic)
    text = text.replace("%hostname%", "h" * MAX_HOSTNAME_CHARS if hostname is None else hostname)
    text = text.replace("%id%", "0" * MAC_CHARS if mac is None else mac)
    text = text.replace("#", "").replace("//", "/")
    if not text.endswith("/"):
        text += "/"
    return text + suffix


def parse_prefixes(text: str) -> tuple[str, str, str]:
    """``"cmnd,stat,tele"`` as a prefix triple; ValueError unless there are three."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ValueError("give three prefixes separated by commas, e.g. cmnd,stat,tele")
    return (parts[0], parts[1], parts[2])


@dataclass(frozen=True)
class TopicModel:
    """A device's Topic, FullTopic, prefixes, host name and MAC: everything its topics use."""

    topic: str
    full_topic: str = DEFAULT_FULL_TOPIC
    prefixes: tuple[str, str, str] = DEFAULT_PREFIXES
    hostname: str | None = ""
    mac: str | None = ""

    def topic_for(self, prefix_index: int, suffix: str = "") -> str:
        return expand(
            self.full_topic,
            prefix_index,
            self.prefixes,
            self.topic,
            self.hostname,
            self.mac,
            suffix,
        )

    def command_topic(self, command: str = "") -> str:
        """Where a command goes, e.g. ``cmnd/plug/TLSKey2``."""
        return self.topic_for(PREFIX_CMND, command)

    def stat_topic(self, suffix: str = "") -> str:
        return self.topic_for(PREFIX_STAT, suffix)

    def tele_topic(self, suffix: str = "") -> str:
        return self.topic_for(PREFIX_TELE, suffix)

    # The model is frozen: what is derived from it is computed once (the address guard
    # compares every device's roots on each discovery and status update).
    @cached_property
    def lwt_topic(self) -> str:
        return self.tele_topic("LWT")

    @cached_property
    def _bases(self) -> tuple[str, str, str]:
        return (self.command_topic(), self.stat_topic(), self.tele_topic())

    def bases(self) -> tuple[str, str, str]:
        """The command, stat and tele roots (each ends with ``/``)."""
        return self._bases

    @property
    def device_specific(self) -> bool:
        """True when the FullTopic names this device (%topic%, %hostname% or %id%)."""
        return any(token in self.full_topic for token in DEVICE_TOKENS)


def level_root(prefix: str) -> str:
    """A deny-list entry as a topic root: ``homeassistant`` -> ``homeassistant/``.

    ``$`` stays as it is: it stands for every topic that starts with ``$``.
    """
    prefix = prefix.strip()
    if prefix in ("", "$"):
        return prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def overlaps(root: str, other: str) -> bool:
    """True when a rule ``root#`` and a rule ``other#`` reach a common topic.

    Both are topic roots ending with ``/``; ``$`` matches every root starting with ``$``.
    """
    if other == "$":
        return root.startswith("$")
    if root == "$":
        return other.startswith("$")
    return root.startswith(other) or other.startswith(root)


def denied_root(roots: Iterable[str], deny: Iterable[str]) -> tuple[str, str] | None:
    """The first (root, deny entry) pair that overlaps, or None when every root is allowed."""
    entries = [level_root(entry) for entry in deny if entry.strip()]
    for root in roots:
        for entry in entries:
            if overlaps(root, entry):
                return root, entry
    return None
