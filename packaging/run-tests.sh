#!/usr/bin/env bash
# Installs what the tests need (Debian packages via setup-debian.sh) and runs every check:
# rustfmt, clippy with -D warnings, and the whole workspace's tests in the debug profile.
# The cargo target folder lives outside the clone (default ~/.cache/kiosk-target) so a second
# run, or CI on the same machine, is warm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash packaging/setup-debian.sh --test
source packaging/cargo-env.sh

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "rustfmt"
cargo fmt --all -- --check

# Lints and tests share one build (cargo-env.sh): clippy-driver is the workspace wrapper.
step "clippy (-D warnings) and tests"
# The end-to-end tests drive the real binaries (kioskctl, kiosk-backoffice): build them once here.
cargo build --workspace --bins
export KIOSK_TEST_BINS_BUILT=1
log=$(mktemp)
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?

# One closing line over every test binary, after cargo's own per-binary summaries.
read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i
    }
  } END { print p+0, f+0, g+0 }' "$log")
rm -f "$log"
echo
echo "workspace: ${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
exit "$status"
