"""The README's screenshots: their size, a check that each is a real page, and where they go."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parents[2] / "docs"
WIDTH, HEIGHT = 1280, 900


def keep(png: bytes, name: str, tmp_path: Path) -> None:
    """Check the picture is a real page (right size, not one flat colour) and save it.

    With TASMOTA_TLS_UPDATE_SCREENSHOTS=1 it also replaces docs/NAME.
    """
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT)
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) blank"
    (tmp_path / name).write_bytes(png)
    if os.environ.get("TASMOTA_TLS_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / name, DOCS / name)
