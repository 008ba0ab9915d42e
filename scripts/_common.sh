# Shared helpers for the project's scripts. Source it; do not run it.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
VENV_PY="$VENV/bin/python"

find_python313() {
    if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
        command -v python3.13
    elif [ -x /root/.pyenv/versions/3.13.0/bin/python3.13 ]; then
        echo /root/.pyenv/versions/3.13.0/bin/python3.13
    else
        echo "Python 3.13 not found: install it or put python3.13 on PATH" >&2
        return 1
    fi
}
