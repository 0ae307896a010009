#!/usr/bin/env bash
# Installs the Debian 12 packages the kiosk runtime needs to build, run its demo and run its tests.
# Idempotent: when every package is already there it only checks and returns in about a second.
#   packaging/setup-debian.sh          build + demo packages
#   packaging/setup-debian.sh --test   also the tools the test suite drives (socat, zbarimg, ...)
#   packaging/setup-debian.sh --bench  also what the UI benchmark compares against (Chromium, Xvfb)
#   packaging/setup-debian.sh --font   also fontTools, for packaging/subset-cjk-font.py
set -euo pipefail

build_pkgs=(
  pkg-config clang libclang-dev libopencv-dev libudev-dev libusb-1.0-0-dev
  libxkbcommon-dev libfontconfig-dev libfreetype-dev fonts-noto-cjk espeak-ng
  libinput-dev
)
test_pkgs=(
  socat zbar-tools poppler-utils poppler-data qpdf xvfb python3 python3-venv sox
  postgresql
)

bench_pkgs=(chromium xvfb python3-xlib fonts-noto-cjk)
# Regenerating the kiosk's embedded CJK font (packaging/subset-cjk-font.py).
font_pkgs=(python3-fonttools fonts-noto-cjk)

want=("${build_pkgs[@]}")
case "${1:-}" in
  --test) want+=("${test_pkgs[@]}") ;;
  --bench) want+=("${bench_pkgs[@]}") ;;
  --font) want+=("${font_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-debian: missing packages: ${missing[*]}; run this script as root (or with sudo)" >&2
    exit 1
  fi
  echo "setup-debian: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The SIP2 tests' peer: PyPI pysip2 in a venv outside the clone (found by tests/src/sip2_peer.rs).
if [[ "${1:-}" == "--test" ]]; then
  venv="${KIOSK_VENV:-$HOME/.cache/kiosk-venv}"
  if ! "$venv/bin/python" -c 'import sys, pysip2; sys.exit(pysip2.__version__ != "0.1.0")' 2>/dev/null; then
    echo "setup-debian: installing pysip2 0.1.0 into $venv"
    py=/usr/bin/python3; [[ -x $py ]] || py=python3
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check pysip2==0.1.0
  fi
fi

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup-debian: no Rust toolchain (cargo) found; install rustup's stable toolchain" >&2; exit 1; }
echo "setup-debian: all ${#want[@]} packages present"
