"""Run the `tasmota-tls` command-line tool where Home Assistant is not installed.

The tool uses the core in custom_components/tasmota_tls/{pki,broker}, which needs only
`cryptography`. Python runs a package's __init__ before any of its submodules, and the
integration's __init__ imports Home Assistant (Home Assistant loads the integration from
it, so it cannot be made free of it). So the integration's package is registered here as
an empty package over its folder before anything imports it: its submodules load from
there, its __init__ never runs. `custom_components` itself has no __init__ (a namespace
package) and needs nothing. Only this launcher does this: the tests and Home Assistant
import the real package.
"""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INTEGRATION = "custom_components.tasmota_tls"


def _load_tool() -> None:
    """Make the tool importable: the repository on the path, the integration's package bare.

    Also what the benchmarks and the fault tests call before they import the core.
    """
    sys.path.insert(0, str(REPO))
    spec = importlib.util.spec_from_loader(INTEGRATION, loader=None, is_package=True)
    assert spec is not None and spec.submodule_search_locations is not None
    spec.submodule_search_locations.append(str(REPO / "custom_components" / "tasmota_tls"))
    sys.modules[INTEGRATION] = importlib.util.module_from_spec(spec)


if __name__ == "__main__":
    _load_tool()
    from tasmota_tls_tool.cli import main

    sys.exit(main())
