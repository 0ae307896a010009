#!/usr/bin/env bash
# UI benchmark (BENCHMARKS.md, "Kiosk UI vs Chromium kiosk"): time from process start to first
# frame, and memory after IDLE seconds on the attract screen, for `kiosk --demo` and, in the same
# run on the same virtual display, for Chromium in kiosk mode showing the same screen as a static
# page (packaging/bench/attract.html), the alternative most kiosks ship.
#
#   bash packaging/bench-ui.sh              # release build of kiosk, 5 start-ups each, 60 s idle
#   RUNS=3 IDLE_SECS=20 bash packaging/bench-ui.sh
#   KIOSK_BIN=path/to/kiosk bash packaging/bench-ui.sh   # no build
#
# First frame: the first frame on screen that shows the attract screen's Start button, watched
# from outside on the X display for both programs alike (packaging/bench/first_frame.py polls the
# root window for the button's solid colour); this script subtracts the time it launched them.
# Memory: PSS and RSS summed over the whole process tree (Chromium runs a browser, GPU, renderer
# and utility processes; PSS counts shared pages once, RSS counts them in every process).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash packaging/setup-debian.sh --bench
source packaging/cargo-env.sh
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS # release artefacts for a benchmark, no lints
RUNS="${RUNS:-5}"
IDLE_SECS="${IDLE_SECS:-60}"
PROFILE="${PROFILE:-library-selfcheck}"

# KIOSK_BIN=PATH times an already built binary instead of building the release one.
if [[ -z "${KIOSK_BIN:-}" ]]; then
  cargo build --release -p kiosk --bin kiosk
fi
kiosk_bin="${KIOSK_BIN:-$CARGO_TARGET_DIR/release/kiosk}"
page="file://$root/packaging/bench/attract.html"

work=$(mktemp -d)
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
export DISPLAY="$display"

now_ms() { date +%s%3N; }

# All pids of a process tree, the root first.
tree() {
  local p=$1
  echo "$p"
  for c in $(pgrep -P "$p" || true); do tree "$c"; done
}

# "PSS_KiB RSS_KiB" summed over a process tree.
tree_memory() {
  local pss=0 rss=0 p v
  for p in $(tree "$1"); do
    [[ -r /proc/$p/smaps_rollup ]] || continue
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    pss=$((pss + ${v:-0}))
    v=$(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + ${v:-0}))
  done
  echo "$pss $rss"
}

launch() { # name logfile -> pid on stdout
  case "$1" in
    kiosk)
      "$kiosk_bin" --profile "$PROFILE" --demo --windowed >"$2" 2>&1 &
      ;;
    chromium)
      chromium --kiosk --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-quic --user-data-dir="$work/chromium-$RANDOM" \
        --window-size=1280,800 "$page" >"$2" 2>&1 &
      ;;
  esac
  echo $!
}

stop() {
  local pids
  pids=$(tree "$1" | tr '\n' ' ')
  kill $pids 2>/dev/null || true
  sleep 0.5
  kill -9 $pids 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Waits for the first frame with the Start button; prints its epoch ms (or fails after 60 s).
first_frame() {
  if ! /usr/bin/python3 packaging/bench/first_frame.py 60; then
    echo "bench-ui: see $1:" >&2
    tail -5 "$1" >&2
    return 1
  fi
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

declare -A starts
for app in kiosk chromium; do
  for ((i = 1; i <= RUNS; i++)); do
    log="$work/$app-$i.log"
    t0=$(now_ms)
    pid=$(launch "$app" "$log")
    ff=$(first_frame "$log")
    starts[$app]+="$((ff - t0)) "
    stop "$pid"
  done
done

declare -A mem
for app in kiosk chromium; do
  log="$work/$app-idle.log"
  pid=$(launch "$app" "$log")
  first_frame "$log" >/dev/null
  sleep "$IDLE_SECS"
  mem[$app]=$(tree_memory "$pid")
  nprocs=$(tree "$pid" | wc -l)
  mem[$app]+=" $nprocs"
  stop "$pid"
done

echo
echo "UI benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $RUNS start-ups each, ${IDLE_SECS} s idle, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chromium: $(chromium --version 2>/dev/null | head -1); kiosk: release build, profile $PROFILE, software renderer on winit (X11, Xvfb 1280x800)"
echo
echo "| program | start to first frame, median | all runs (ms) | PSS after idle | RSS after idle | processes |"
echo "|---|---|---|---|---|---|"
for app in kiosk chromium; do
  read -r pss rss n <<<"${mem[$app]}"
  med=$(tr ' ' '\n' <<<"${starts[$app]}" | grep . | median)
  awk -v a="$app" -v m="$med" -v r="${starts[$app]% }" -v p="$pss" -v s="$rss" -v n="$n" \
    'BEGIN { printf "| %s | %s ms | %s | %.1f MiB | %.1f MiB | %s |\n", a, m, r, p / 1024, s / 1024, n }'
done
