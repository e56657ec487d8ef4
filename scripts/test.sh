#!/usr/bin/env bash
# The test command: set up the venv, make sure mosquitto is there, then ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing mosquitto (Debian package) for the tests" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
    else
        echo "the tests need mosquitto: sudo apt-get install mosquitto" >&2
        exit 1
    fi
fi
# The packaged service is not needed: the tests start their own broker on a free port.
bash scripts/setup-venv.sh
.venv/bin/ruff check gateway simulators tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
