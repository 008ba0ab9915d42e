"""Run Home Assistant for the demo with name resolution that never leaves the machine.

Home Assistant's shared HTTP session resolves `.local` names over mDNS, and creating that
resolver starts a Zeroconf instance that joins multicast groups on every interface. The
demo talks only to loopback, so it swaps in aiohttp's plain resolver before starting.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
from homeassistant import __main__ as hass_main
from homeassistant.helpers import aiohttp_client


def loopback_resolver(hass: Any) -> aiohttp.abc.AbstractResolver:
    """A resolver without mDNS: the demo's addresses are all 127.0.0.N literals."""
    return aiohttp.ThreadedResolver()


def install() -> None:
    aiohttp_client._async_make_resolver = loopback_resolver  # type: ignore[assignment]


if __name__ == "__main__":
    install()
    sys.exit(hass_main.main())
