#!/usr/bin/env bash
# The demo command: set up the venv and run `patrol-gateway demo` (simulated GNSS + radio fleet, embedded broker).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/patrol-gateway demo "$@"
