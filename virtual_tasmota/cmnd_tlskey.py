"""TLSKey1/TLSKey2 (CmndTlsKey): the client key and certificate in the 1 KB flash slot."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .command_base import Call, CommandHost, Handler
from .firmware import TLSKEY1_BYTES, TLSKEY2_MIN_DER
from .firmware import TLSKEY_BLOCK_BYTES as TLS_SLOT_BYTES
from .firmware import TLSKEY_DIRECTORY_BYTES as TLS_DIR_BYTES


def tlskey(host: CommandHost, call: Call) -> dict[str, Any] | None:
    if not 1 <= call.index <= 2:
        return None
    s = host.settings
    if call.data:
        raw = decode_base64_like_firmware(call.data)
        if call.index == 1:
            if raw and len(raw) != TLSKEY1_BYTES:
                # The erase happened in a RAM copy only: flash keeps the old key and certificate.
                host.log(f"TLSKey: Certificate must be 32 bytes: {len(raw)}.")
                return None
            # Writing the key erases the whole block first, certificate included.
            s.tlskey1 = raw or None
            s.tlskey2 = None
        else:
            if s.tlskey1 is None:
                host.log("TLSKey: cannot store Cert if no Key previously stored.")
                return None
            if len(raw) < TLSKEY2_MIN_DER:
                host.log(f"TLSKey: Certificate length too short: {len(raw)}.")
                return None
            if TLS_DIR_BYTES + _align4(len(s.tlskey1)) + len(raw) > TLS_SLOT_BYTES:
                # The firmware has no such check and would overrun its 1 KB slot.
                host.log(f"TLSKey: Certificate does not fit the 1 KB slot: {len(raw)}.")
                return None
            s.tlskey2 = raw
        host.save_settings()
    return {
        f"{call.name}1": len(s.tlskey1) if s.tlskey1 is not None else -1,
        f"{call.name}2": len(s.tlskey2) if s.tlskey2 is not None and s.tlskey1 is not None else -1,
    }


def _align4(n: int) -> int:
    return (n + 3) & ~3


def decode_base64_like_firmware(data: str) -> bytes:
    """Spaces removed, then base64 decoded leniently (the firmware's decoder does not validate)."""
    text = re.sub(r"\s+", "", data)
    text = re.sub(r"[^A-Za-z0-9+/]", "", text.split("=", 1)[0])
    text = text[: len(text) - len(text) % 4 if len(text) % 4 == 1 else len(text)]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


HANDLERS: dict[str, Handler] = {"TLSKey": tlskey}
