"""Files written for the user: the firmware's trust anchor headers."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from .pki.fsutil import atomic_write
from .pki.trust_anchor import USER_CONFIG_OVERRIDE_SNIPPET, firmware_headers

FIRMWARE_FILES = ("local_ca_data.h", "local_ca_descriptor.h", "user_config_override_snippet.h")


def write_trust_anchor(certificate: x509.Certificate, out_dir: Path) -> list[Path]:
    """Write the two headers for ``tasmota/include/`` and the override snippet."""
    data_h, descriptor_h = firmware_headers(certificate)
    contents = (data_h, descriptor_h, USER_CONFIG_OVERRIDE_SNIPPET)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in zip(FIRMWARE_FILES, contents, strict=True):
        path = out_dir / name
        atomic_write(path, text.encode())
        written.append(path)
    return written
