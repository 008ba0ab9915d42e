# Shared helpers for the project's scripts. Source it; do not run it.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Which Home Assistant the venv holds: the current release (the main target) or the
# oldest one the integration supports (hacs.json). TASMOTA_TLS_HA=current|oldest.
HA_TARGET="${TASMOTA_TLS_HA:-current}"
case "$HA_TARGET" in
    current) VENV="$REPO_ROOT/.venv"; REQUIREMENTS="requirements_test.txt" ;;
    oldest) VENV="$REPO_ROOT/.venv-oldest"; REQUIREMENTS="requirements_oldest.txt" ;;
    *) echo "TASMOTA_TLS_HA must be current or oldest, not '$HA_TARGET'" >&2; exit 2 ;;
esac
VENV_PY="$VENV/bin/python"

# Home Assistant >= 2026.3 needs Python >= 3.14.2.
find_python() {
    local candidate
    for candidate in python3.14 python3 python3.15; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Without a suitable Python on PATH, run the calling script again inside the Debian
# testing root (scripts/_testing_root.sh), where scripts/setup then finds one. Call it
# first thing, with the script's own arguments.
use_python_or_testing_root() {
    if find_python >/dev/null; then
        return 0
    fi
    if [ -n "${TASMOTA_TLS_IN_TESTING_ROOT:-}" ]; then
        echo "no Python >= 3.14.2 in the testing root either" >&2
        exit 1
    fi
    if [ ! -r /etc/debian_version ]; then
        echo "Home Assistant needs Python >= 3.14.2: put python3.14 on PATH" >&2
        exit 1
    fi
    # shellcheck source=scripts/_testing_root.sh
    source "$REPO_ROOT/scripts/_testing_root.sh"
    run_in_testing_root "$REPO_ROOT/scripts/$(basename "$0")" "$@"
    exit $?
}
