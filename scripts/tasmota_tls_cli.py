"""Launch the PKI command-line tool (tasmota_tls_tool) without Home Assistant.

The tool imports the PKI core as custom_components.tasmota_tls.pki. Importing that
normally runs the integration's __init__, which imports Home Assistant; on the CA
machine there is none, and the tool must not need it. So the two parent packages are
registered here as bare packages (their folders, no __init__ code run) before anything
imports them: only the pki subpackage's own modules load, and they need only
`cryptography`.
"""

import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _bare_package(name: str, folder: Path) -> None:
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    sys.modules[name] = module


def _load_tool() -> None:
    sys.path.insert(0, str(REPO))
    _bare_package("custom_components", REPO / "custom_components")
    _bare_package("custom_components.tasmota_tls", REPO / "custom_components" / "tasmota_tls")


if __name__ == "__main__":
    _load_tool()
    from tasmota_tls_tool.cli import main

    sys.exit(main())
