#!/usr/bin/env bash
# cargo with the test suite's environment (shared target folder, clippy -D warnings):
#   bash packaging/cargo-dev.sh test -p kiosk-queue
set -euo pipefail
source "$(dirname "$0")/cargo-env.sh"
exec cargo "$@"
