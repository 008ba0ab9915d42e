"""Virtual Tasmota devices for tests and demos.

MQTT, HTTP /cm, TLSKey, TLS and rules, as the firmware does them. See README.md.
"""

from .device import Timing, VirtualDevice
from .faults import DeviceFaults
from .fleet import Fleet

__all__ = ["DeviceFaults", "Fleet", "Timing", "VirtualDevice"]
