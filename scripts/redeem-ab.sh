#!/usr/bin/env bash
# Interleaved A/B of athmd binaries on the redemption load: each round runs
# every binary once, in order, against the same kind of fresh daemon, so that
# drift of the machine hits both sides alike. Not part of ctest. One line per
# run on stdout; docs/performance.md ("LMDB writer: A/B") shows its use.
#
#   scripts/redeem-ab.sh [--rounds R] [--duration S] [--connections C]
#                        [--store lmdb|memory] [--tokens N]
#                        [--daemon-cpus LIST] [--client-cpus LIST]
#                        [--build-dir DIR] ATHMD...
#
#   --rounds R          rounds (default 3)
#   --duration S        seconds of wrk per run (default 10)
#   --connections C     wrk connections (default 32)
#   --store S           lmdb (default; durable commits) or memory (test-only)
#   --tokens N          distinct tokens minted per run (default 60000; more
#                       than the daemon can redeem in S seconds)
#   --daemon-cpus LIST  CPUs for athmd, one I/O thread each (default 0)
#   --client-cpus LIST  CPUs for wrk (default 1)
#   --build-dir DIR     where athm and athm_loadgen are (default build-loadtest,
#                       as built by scripts/loadtest.sh)
#   ATHMD...            the daemon binaries to compare
#
# Per run: requests/s, p50 and p99 from wrk, 200s per second of daemon CPU
# time, and, when `perf stat` can read syscall tracepoints, the daemon's
# fdatasync and pwrite64 calls and context switches. Everything listens on
# 127.0.0.1 only; every step is bounded in time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
ROUNDS=3
DURATION=10
CONNS=32
STORE=lmdb
TOKENS=60000
DAEMON_CPUS=0
CLIENT_CPUS=1
BUILD_DIR="$ROOT/build-loadtest"
BINS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --daemon-cpus) DAEMON_CPUS=$2; shift 2 ;;
    --client-cpus) CLIENT_CPUS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "redeem-ab: unknown option $1" >&2; exit 2 ;;
    *) BINS+=("$1"); shift ;;
  esac
done
[[ ${#BINS[@]} -gt 0 ]] || { echo "redeem-ab: name at least one athmd binary" >&2; exit 2; }
case "$STORE" in lmdb|memory) ;; *) echo "redeem-ab: --store lmdb|memory" >&2; exit 2 ;; esac
ATHM="$BUILD_DIR/tools/athm/athm"
LOADGEN="$BUILD_DIR/tests/bench/load/athm_loadgen"
for b in "$ATHM" "$LOADGEN" "${BINS[@]}"; do
  [[ -x $b ]] || { echo "redeem-ab: $b is not an executable" >&2; exit 2; }
done
require_tools redeem-ab wrk curl taskset
THREADS=$(count_cpus "$DAEMON_CPUS")
check_cpus redeem-ab --daemon-cpus "$DAEMON_CPUS"
PERF_EVENTS=syscalls:sys_enter_fdatasync,syscalls:sys_enter_pwrite64,context-switches
HAVE_PERF=0
if command -v perf >/dev/null && perf stat -e "$PERF_EVENTS" true >/dev/null 2>&1; then HAVE_PERF=1; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-redeem-ab-XXXXXX")
DAEMON_PID=""
cleanup() { stop_pid "$DAEMON_PID"; rm -rf "$WORK"; }
trap cleanup EXIT
"$ATHM" keygen --dir "$WORK/keys" --buckets 4 --deployment-id athmd-dev >/dev/null
KEY_FILE=$(find "$WORK/keys" -name '*.key' -type f | head -n 1)

echo "# redeem-ab: store $STORE, $CONNS connections, ${DURATION}s per run, $ROUNDS rounds, athmd on CPUs $DAEMON_CPUS, wrk on CPUs $CLIENT_CPUS"
for round in $(seq 1 "$ROUNDS"); do
  for bin in "${BINS[@]}"; do
    run="$WORK/run"
    rm -rf "$run"
    mkdir -p "$run"
    pick_ports
    if [[ $STORE == lmdb ]]; then store="{type: lmdb, lmdb: {path: \"$run/spent\"}}"; else store="{type: memory}"; fi
    bench_config "$run/athmd.yaml" "$WORK/keys" "$store" "$THREADS"
    # Fresh tokens every run: a token redeemed by an earlier run is spent.
    "$LOADGEN" mint --key-file "$KEY_FILE" --count "$TOKENS" --threads "$(nproc)" --out "$run/tokens.bin" >"$run/mint.log" 2>&1 ||
      { cat "$run/mint.log" >&2; exit 1; }
    taskset -c "$DAEMON_CPUS" "$bin" --config "$run/athmd.yaml" >"$run/athmd.log" 2>&1 &
    DAEMON_PID=$!
    wait_ready redeem-ab "$DAEMON_PID" "http://127.0.0.1:$PUB_PORT/readyz" "$run/athmd.log" 30
    cpu0=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
    perf_pid=""
    if [[ $HAVE_PERF == 1 ]]; then
      perf stat -e "$PERF_EVENTS" -p "$DAEMON_PID" -o "$run/perf.txt" -- sleep "$DURATION" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    timeout $((DURATION + 60)) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
      -s "$ROOT/tests/bench/load/redeem.lua" "http://127.0.0.1:$INT_PORT" -- "$run/tokens.bin" 1 >"$run/wrk.txt" 2>&1
    cpu1=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
    [[ -n $perf_pid ]] && wait "$perf_pid" || true
    stop_pid "$DAEMON_PID"
    DAEMON_PID=""
    ok=$(awk -F= '$1=="lua.status_200" {print $2}' "$run/wrk.txt")
    other=$(awk -F= '$1=="lua.status_409" || $1=="lua.status_other" {s += $2} END {print s + 0}' "$run/wrk.txt")
    line=$(awk -v ok="$ok" -v other="$other" -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" '
      $1 == "Requests/sec:" { rps = $2 }
      $1 == "50%" { p50 = $2 }
      $1 == "99%" { p99 = $2 }
      END { printf "%s req/s, p50 %s, p99 %s, %d x 200, %d other, %.1f 200s per daemon CPU-second",
                   rps, p50, p99, ok, other, (c > 0 ? ok / (c / hz) : 0) }' "$run/wrk.txt")
    if [[ -f $run/perf.txt ]]; then
      line+=$(awk '/fdatasync/ {f = $1} /pwrite64/ {p = $1} /context-switches/ {c = $1}
                   END { printf ", fdatasync %s, pwrite64 %s, context switches %s", f, p, c }' "$run/perf.txt")
    fi
    echo "round $round $bin: $line"
  done
done
