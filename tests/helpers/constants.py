"""Values many tests share, kept in one place."""

from __future__ import annotations

# A Tasmota device MAC as discovery reports it: twelve upper-case hex digits.
MAC = "A4CF12ABCDEF"
