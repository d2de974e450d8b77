#!/usr/bin/env bash
# Make .venv a Python 3.12 virtual environment holding Guichet installed from the lock.
#
#   scripts/venv.sh          the application (what `make run` needs)
#   scripts/venv.sh test     the application and the test tools (what `make test` needs)
#
# Safe to run again and again: the venv is rebuilt only when missing or not Python 3.12, and pip
# runs only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
venv=.venv

is_python312() {
    "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

find_python312() {
    # pyenv's shim resolves python3.12 inside the repository through .python-version.
    if command -v python3.12 >/dev/null 2>&1 && is_python312 python3.12; then
        command -v python3.12
        return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local found
        found="$(pyenv which python3.12 2>/dev/null || true)"
        if [[ -n "$found" ]] && is_python312 "$found"; then
            echo "$found"
            return
        fi
        for found in "$(pyenv root)"/versions/3.12*/bin/python3.12; do
            if [[ -x "$found" ]] && is_python312 "$found"; then
                echo "$found"
                return
            fi
        done
    fi
    return 1
}

if ! [[ -x "$venv/bin/python" ]] || ! is_python312 "$venv/bin/python"; then
    if ! python="$(find_python312)"; then
        echo "error: Guichet needs Python 3.12 (.python-version says $(cat .python-version))," >&2
        echo "       and neither python3.12 nor pyenv found one." >&2
        echo "       Install it (for example: pyenv install 3.12.1) and run this again." >&2
        exit 1
    fi
    echo "==> Creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

# The stamp records what was installed; the test install covers the plain one too.
digest="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
stamp="$venv/.installed-${extras:-app}"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
    exit 0
fi
if [[ -z "$extras" && -f "$venv/.installed-test" && "$(cat "$venv/.installed-test")" == "$digest" ]]; then
    exit 0
fi

target="."
[[ -n "$extras" ]] && target=".[$extras]"
echo "==> Installing Guichet${extras:+ with [$extras]} from constraints.txt (about 30 s the first time)"
# This machine's pip configuration names local package folders that may not exist; pip says so
# once per package ("Location ... is ignored"), which is noise, not a problem.
"$venv/bin/python" -m pip install --quiet -c constraints.txt -e "$target" 2>&1 |
    { grep -v "^WARNING: Location '.*' is ignored" || true; }
echo "$digest" >"$stamp"
