"""Launch the PKI command-line tool without importing the Home Assistant integration.

The PKI core lives inside the integration's folder; loading it under its own package
name keeps Home Assistant out of the import path, so only `cryptography` is needed.
"""

import importlib.util
import sys
from pathlib import Path

PKI_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "tasmota_tls" / "pki"


def _load_pki() -> None:
    spec = importlib.util.spec_from_file_location(
        "tasmota_tls_pki", PKI_DIR / "__init__.py", submodule_search_locations=[str(PKI_DIR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tasmota_tls_pki"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    _load_pki()
    from tasmota_tls_pki.cli import main

    sys.exit(main())
