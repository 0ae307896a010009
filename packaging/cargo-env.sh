# Sourced by run-tests.sh and used by developers (`bash packaging/cargo-dev.sh test -p CRATE`):
# one cargo environment, so CI, a developer and a helper session share one warm target folder
# and every workspace crate is compiled once, with clippy's lints as errors.
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiosk-target}"
export CARGO_TERM_COLOR=never
# clippy-driver compiles every workspace crate (libraries, bins, tests, examples) with clippy's
# lints as errors, and the same artefacts then run as the tests: no second full build for lints.
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
mkdir -p "$CARGO_TARGET_DIR"
