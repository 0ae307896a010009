#!/usr/bin/env bash
# Installs what the kiosk needs and runs the demo: simulated devices, embedded back office.
#   bash packaging/demo.sh              the kiosk UI (needs a display: X11 or Wayland)
#   bash packaging/demo.sh --console    the device demo in this terminal (no display needed):
#                                       every peripheral as a protocol-true simulator on a pty,
#                                       driven by kioskctl, and the signed queue uploaded to the
#                                       reference back office over loopback
#   PROFILE=gov-terminal bash packaging/demo.sh    another terminal profile for the UI
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-ui}

bash packaging/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiosk-target}"
bin="$CARGO_TARGET_DIR/debug"

if [[ "$mode" != "--console" ]]; then
  if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    echo "demo.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset): run 'bash packaging/demo.sh --console' here, or 'xvfb-run -a bash packaging/demo.sh' for the UI off-screen" >&2
    exit 1
  fi
  cargo build --quiet -p kiosk
  exec "$bin/kiosk" --demo --profile "${PROFILE:-library-selfcheck}"
fi

cargo build --quiet -p kioskctl -p kiosk-backoffice
work=$(mktemp -d /tmp/kiosk-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() { for _ in $(seq 100); do [[ -e "$1" ]] && return 0; sleep 0.1; done; echo "demo.sh: $1 did not appear" >&2; return 1; }

say "Starting simulators on pseudo-terminals (ID card, fingerprint, RFID pad with 10 books, printer)"
"$bin/kioskctl" simulate idcard --link "$work/idcard" --scenario fixtures/scenarios/idcard-demo.json & pids+=($!)
"$bin/kioskctl" simulate fingerprint --link "$work/finger" --scenario fixtures/scenarios/fingerprint-enrol.json & pids+=($!)
"$bin/kioskctl" simulate rfid --link "$work/rfid" --scenario fixtures/scenarios/rfid-stack-10.json & pids+=($!)
"$bin/kioskctl" simulate printer --link "$work/printer" & pids+=($!)
for l in idcard finger rfid printer; do wait_for "$work/$l"; done

say "Reading the resident ID card (personal data masked; --reveal shows it)"
"$bin/kioskctl" idcard read --port "serial:$work/idcard@115200" || true

say "Enrolling a fingerprint in slot 1, then searching for it"
"$bin/kioskctl" fingerprint enroll --slot 1 --port "serial:$work/finger@57600" || true
"$bin/kioskctl" fingerprint search --port "serial:$work/finger@57600" || true

rfid_reader=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("reader","feig"))' fixtures/scenarios/rfid-stack-10.json 2>/dev/null || echo feig)
say "Inventory of the book stack on the RFID pad ($rfid_reader protocol)"
"$bin/kioskctl" rfid inventory --port "serial:$work/rfid@38400" --reader "$rfid_reader" || true
uid=$("$bin/kioskctl" rfid inventory --port "serial:$work/rfid@38400" --reader "$rfid_reader" --json 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); t=d["tags"] if isinstance(d,dict) else d; print(t[0]["uid"])' 2>/dev/null || true)
if [[ -n "$uid" ]]; then
  say "Checking out the first book: AFI set to 'on loan' and read back"
  "$bin/kioskctl" rfid secure --port "serial:$work/rfid@38400" --reader "$rfid_reader" --uid "$uid" --state out || true
fi

say "Printer status and a Chinese receipt with a QR code (the simulator shows what it printed)"
"$bin/kioskctl" printer status --to "serial:$work/printer@115200" || true
"$bin/kioskctl" print receipt --to "serial:$work/printer@115200" fixtures/escpos/receipt-example.json || true
sleep 0.5

say "Signed offline queue: three transactions, then upload to the reference back office"
pub=$("$bin/kioskctl" keys show --create --db "$work/queue.db" --terminal demo-01 --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
echo "terminal public key for enrolment: $pub"
for i in 1 2 3; do
  "$bin/kioskctl" outbox enqueue --db "$work/queue.db" --kind library.loan --payload "{\"item\":\"3101000000$i\",\"patron\":\"demo\"}" >/dev/null
done
"$bin/kioskctl" outbox stats --db "$work/queue.db" || true
"$bin/kiosk-backoffice" enroll --db "sqlite:$work/backoffice.db" --terminal demo-01 --public-key "$pub"
"$bin/kiosk-backoffice" serve --listen 127.0.0.1:18080 --db "sqlite:$work/backoffice.db" >"$work/backoffice.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do grep -q . "$work/backoffice.log" 2>/dev/null && break; sleep 0.1; done
"$bin/kioskctl" sync --db "$work/queue.db" --to http://127.0.0.1:18080 --until-empty || true
"$bin/kioskctl" outbox stats --db "$work/queue.db" || true

say "Demo finished. Try the same commands on real devices with serial:/dev/ttyUSB0@BAUD, usb:auto or tcp:HOST:9100."
