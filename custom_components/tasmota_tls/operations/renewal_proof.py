"""The evidence that confirms a renewal: the renewing MAC's own session answers.

"Online" on the LWT topic and ``Status 6`` saying ``MqttTLS: 1`` can come from any
client that publishes on the device's topics, including the real device when a
stranger claimed its topic. So after the engine saw the device back on TLS, a renewal
counts only when, on the device's pinned topics:

1. a fresh random nonce that Home Assistant sends to the device's command topic as
   ``Publish <stat topic>/TLSPROOF <nonce>`` comes back on that stat topic; only a
   client that reads the device's command topic can know it, and with the bundle's ACL
   that is the holder of the device's certificate (and Home Assistant);
2. ``Status 5`` on the same topics names the renewing MAC, and no reply names another.

Both are plain Tasmota commands (no custom firmware beyond TLSKey). What the proof
does not cover: a broker whose ACL lets others read the device's command topic (the
nonce is then no secret), and a second device configured with the same topic and a
forged MAC in its Status 5 reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback

from ..discovery import TasmotaDevice, normalize_mac
from ..enrolment import EnrolmentRecord
from .outcomes import Outcomes
from .revocation import Revocations

_LOGGER = logging.getLogger(__name__)

PROOF_SUFFIX = "TLSPROOF"
ATTEMPTS = 3


def _reported_mac(payload: str) -> str | None:
    try:
        status = json.loads(payload)["StatusNET"]
        return normalize_mac(str(status["Mac"]))
    except (ValueError, KeyError, TypeError):
        return None


async def async_prove_renewal(
    hass: HomeAssistant, device: TasmotaDevice, seconds: float
) -> str | None:
    """None when the device's own session answered; else why the renewal is not confirmed."""
    nonce = secrets.token_hex(16)
    proof_topic = device.stat_topic(PROOF_SUFFIX)
    status_topic = device.stat_topic("STATUS5")
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    @callback
    def on_message(msg: mqtt.ReceiveMessage) -> None:
        queue.put_nowait((msg.topic, str(msg.payload)))

    unsubscribe = await mqtt.async_subscribe(hass, device.stat_topic("+"), on_message)
    echoed = mac_seen = False
    try:
        for _ in range(ATTEMPTS):
            await mqtt.async_publish(hass, device.command_topic("Status"), "5")
            await mqtt.async_publish(
                hass, device.command_topic("Publish"), f"{proof_topic} {nonce}"
            )
            deadline = time.monotonic() + seconds
            while not (echoed and mac_seen) and (left := deadline - time.monotonic()) > 0:
                try:
                    topic, payload = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if topic == proof_topic and payload == nonce:
                    echoed = True
                elif topic == status_topic and (reported := _reported_mac(payload)):
                    if reported != device.mac:
                        return f"the device on {device.command_topic('')} reports MAC {reported}"
                    mac_seen = True
            if echoed and mac_seen:
                return None
    finally:
        unsubscribe()
    missing = "the nonce" if not echoed else "its MAC (Status 5)"
    return f"the device did not return {missing} on {device.stat_topic('')}"


async def async_confirm_renewal(
    hass: HomeAssistant,
    device: TasmotaDevice,
    seconds: float,
    record: EnrolmentRecord,
    passphrase: str | None,
    revocations: Revocations,
    outcomes: Outcomes,
) -> bool:
    """True when the renewal is proven; otherwise revoke the new certificate and fail.

    The certificate in use stays valid: if the new key reached anyone but the device,
    that holder is locked out at the broker's next CRL reload.
    """
    mac = device.mac
    reason = await async_prove_renewal(hass, device, seconds)
    if reason is None:
        return True
    _LOGGER.warning("Tasmota %s: renewal not confirmed: %s", mac, reason)
    if record.serial is not None:
        await revocations.async_revoke_serial(mac, record.serial, "key_compromise", passphrase)
    await outcomes.async_failed_outside_engine(mac, "renew", "renewal_unconfirmed", reason)
    return False
