"""Virtual Tasmota devices for tests and demos.

MQTT, HTTP /cm, TLSKey, TLS and rules, as the firmware does them. See README.md.
"""

from .device import VirtualDevice
from .faults import DeviceFaults
from .fleet import Fleet
from .timing import FAST_TIMING, Timing

__all__ = ["FAST_TIMING", "DeviceFaults", "Fleet", "Timing", "VirtualDevice"]
