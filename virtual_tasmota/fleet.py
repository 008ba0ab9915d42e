"""A fleet of virtual devices in one asyncio process, each on its own loopback address."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from pathlib import Path
from types import TracebackType

from .device import VirtualDevice
from .faults import DeviceFaults
from .firmware import BOOT_TO_MQTT_SECONDS, TLS_HANDSHAKE_SECONDS
from .settings import load_settings
from .timing import Timing

LOGGER = logging.getLogger("virtual_tasmota")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT_MAC_PREFIX = "A4CF12"
# 13.0.0: TLSKey through USE_MQTT_AWS_IOT; 14.5.0: USE_MQTT_CLIENT_CERT and MqttTLS in Status 6;
# 15.2.0: USE_MQTT_TLS_ECDSA on by default (SetOption165), see firmware.py.
FIRMWARE_VERSIONS = ("14.5.0", "13.0.0", "15.2.0")  # an Espressif OUI, as real devices have


def device_addresses(first_ip: str, count: int) -> list[str]:
    """count loopback addresses from first_ip on, skipping .0 and .255 in each /24."""
    address = ipaddress.IPv4Address(first_ip)
    out: list[str] = []
    while len(out) < count:
        if address not in LOOPBACK:
            raise ValueError(f"device addresses must stay inside 127.0.0.0/8, {address} does not")
        if int(address) & 0xFF not in (0, 255):
            out.append(str(address))
        address += 1
    return out


def device_mac(
    seed: str, index: int, prefix: str = DEFAULT_MAC_PREFIX, taken: set[str] | None = None
) -> str:
    """A MAC derived from a seed and an index: the same fleet state gives the same devices."""
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{seed}:{index}:{attempt}".encode()).hexdigest().upper()
        mac = prefix.upper() + digest[: 12 - len(prefix)]
        if taken is None or mac not in taken:
            return mac
        attempt += 1


class Fleet:
    """N devices; start() returns once each is connected and has published discovery.

    With http_port P every device serves HTTP on port P of its own address
    (127.0.0.2:P, 127.0.0.3:P, ...). State (the devices' flash) lives in state_dir,
    one file per device, so a second Fleet on the same directory resumes the same
    devices, settings included. The delays default to the firmware's (Timing, firmware.py):
    seconds per restart; tests pass fast ones (FAST_TIMING).
    """

    def __init__(
        self,
        *,
        broker_host: str,
        broker_port: int,
        state_dir: Path,
        count: int,
        first_ip: str = "127.0.0.2",
        http_port: int = 80,
        firmware: str = "14.5.0",
        chip: str = "esp8266",
        tls_ecdsa: bool | None = None,
        trust_anchors_pem: bytes | None = None,
        boot_delay: float = Timing.boot_delay,
        retry_delay: float = Timing.retry_delay,
        backlog_delay: float = Timing.backlog_delay,
        restart_delay: float = Timing.restart_delay,
        tls_handshake: float | None = None,
        rule_timer_scale: float = 1.0,
        discovery_delay: float = 0.0,
        faults: DeviceFaults | None = None,
        web_password: str | None = None,
        seed: str | None = None,
    ) -> None:
        if firmware not in FIRMWARE_VERSIONS:
            raise ValueError(f"firmware must be one of {', '.join(FIRMWARE_VERSIONS)}")
        if chip not in ("esp8266", "esp32"):
            raise ValueError("chip must be esp8266 or esp32")
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if tls_handshake is None:
            # A fleet told to boot fast handshakes fast too: the firmware's ratio of the two.
            tls_handshake = boot_delay * TLS_HANDSHAKE_SECONDS / BOOT_TO_MQTT_SECONDS
        timing = Timing(
            boot_delay=boot_delay,
            tls_handshake=tls_handshake,
            retry_delay=retry_delay,
            backlog_delay=backlog_delay,
            restart_delay=restart_delay,
            rule_timer_scale=rule_timer_scale,
            discovery_delay=discovery_delay,
        )
        seed = seed if seed is not None else str(self.state_dir.resolve())
        taken: set[str] = set()
        self.devices: list[VirtualDevice] = []
        for index, ip in enumerate(device_addresses(first_ip, count)):
            path = self.state_dir / f"device-{index:03d}.json"
            existing = load_settings(path)
            mac = existing.mac if existing is not None else device_mac(seed, index, taken=taken)
            taken.add(mac)
            self.devices.append(
                VirtualDevice(
                    index=index,
                    mac=mac,
                    ip=ip,
                    http_port=http_port,
                    state_path=path,
                    broker_host=broker_host,
                    broker_port=broker_port,
                    firmware=firmware,
                    chip=chip,
                    tls_ecdsa=tls_ecdsa,
                    trust_anchors_pem=trust_anchors_pem,
                    timing=timing,
                    faults=DeviceFaults(**vars(faults)) if faults is not None else None,
                    web_password=web_password,
                )
            )

    async def start(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Start every device; wait (bounded) until each has connected and published discovery.

        Devices told to stay offline (faults.offline_for) are not waited for.
        Raises TimeoutError naming the devices that did not get there in time.
        """
        await asyncio.gather(*(device.start() for device in self.devices))
        waiting = [d for d in self.devices if not d.faults.offline_for]
        limit = timeout if timeout is not None else 15.0 + 0.05 * len(waiting)
        results = await asyncio.gather(
            *(
                d.wait_state(lambda dev: dev.connected and dev.discovery_published, limit)
                for d in waiting
            ),
            return_exceptions=True,
        )
        late = [
            d.topic
            for d, result in zip(waiting, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if late:
            raise TimeoutError(
                f"{len(late)} device(s) not online after {limit:.0f} s: {', '.join(late[:10])}"
            )
        LOGGER.info("fleet | %d device(s) online", len(waiting))

    async def stop(self) -> None:
        """Stop every device: Offline published, connections closed, HTTP servers down."""
        await asyncio.gather(*(device.stop() for device in self.devices))

    async def __aenter__(self) -> Fleet:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
