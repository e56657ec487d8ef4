#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install patrol-gateway with its test extras into it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
pick_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "patrol-gateway needs Python 3.11 or newer (with venv); none found" >&2
    return 1
}
if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
fi
# Skip the install when this pyproject.toml is what was installed last (a second demo starts at once).
stamp=.venv/.patrol-gateway-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -x .venv/bin/patrol-gateway ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "$wanted" >"$stamp"
