#!/usr/bin/env bash
# Redemption latency while issuance saturates the daemon: a wrk flood of
# TokenRequests on the public listener and, at the same time, a light closed
# loop of redemptions on the internal listener. Shows whether a flood of
# public issuance (each about five redemptions' worth of CPU) delays the
# origin's redemptions. Not part of ctest; prints a Markdown section for
# docs/performance.md ("Redemption under an issuance flood").
#
#   scripts/isolation.sh [--athmd BIN] [--duration S] [--flood-connections C]
#                        [--redeem-connections C] [--store lmdb|memory]
#                        [--daemon-cpus LIST] [--client-cpus LIST]
#                        [--build-dir DIR]
#
#   --athmd BIN             daemon binary (default BUILD_DIR/server/athmd)
#   --duration S            seconds of flood and redemptions (default 15)
#   --flood-connections C   wrk connections sending TokenRequests (default 64)
#   --redeem-connections C  wrk connections sending tokens (default 2)
#   --store lmdb|memory     spent-token store (default lmdb)
#   --daemon-cpus LIST      CPUs for athmd, as for taskset -c (default 0); one
#                           I/O thread per CPU listed
#   --client-cpus LIST      CPUs for both wrk processes (default 1)
#   --build-dir DIR         Release build with athm and athm_loadgen
#                           (default build-loadtest; not built here)
#
# Everything listens on 127.0.0.1 only; every step has a bounded duration.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
DURATION=15
FLOOD_CONNS=64
REDEEM_CONNS=2
STORE=lmdb
DAEMON_CPUS=0
CLIENT_CPUS=1
BUILD_DIR="$ROOT/build-loadtest"
ATHMD=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --athmd) ATHMD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --flood-connections) FLOOD_CONNS=$2; shift 2 ;;
    --redeem-connections) REDEEM_CONNS=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    --daemon-cpus) DAEMON_CPUS=$2; shift 2 ;;
    --client-cpus) CLIENT_CPUS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "isolation: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $STORE == lmdb || $STORE == memory ]] || { echo "isolation: --store lmdb|memory" >&2; exit 2; }
require_tools isolation wrk curl taskset
ATHMD=${ATHMD:-$BUILD_DIR/server/athmd}
ATHM="$BUILD_DIR/tools/athm/athm"
LOADGEN="$BUILD_DIR/tests/bench/load/athm_loadgen"
for b in "$ATHMD" "$ATHM" "$LOADGEN"; do
  [[ -x $b ]] || { echo "isolation: $b not built" >&2; exit 2; }
done
LOAD_DIR="$ROOT/tests/bench/load"
THREADS=$(count_cpus "$DAEMON_CPUS")
check_cpus isolation --daemon-cpus "$DAEMON_CPUS"
check_cpus isolation --client-cpus "$CLIENT_CPUS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-isolation-XXXXXX")
DAEMON_PID=""
cleanup() {
  stop_pid "$DAEMON_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

pick_ports
PUB="http://127.0.0.1:$PUB_PORT"
INT="http://127.0.0.1:$INT_PORT"
"$ATHM" keygen --dir "$WORK/keys" --buckets 4 --deployment-id athmd-dev >/dev/null
if [[ $STORE == lmdb ]]; then STORE_YAML="{type: lmdb, lmdb: {path: \"$WORK/spent\"}}"; else STORE_YAML="{type: memory}"; fi
bench_config "$WORK/athmd.yaml" "$WORK/keys" "$STORE_YAML" "$THREADS"
taskset -c "$DAEMON_CPUS" "$ATHMD" --config "$WORK/athmd.yaml" >>"$WORK/athmd.log" 2>&1 &
DAEMON_PID=$!
wait_ready isolation "$DAEMON_PID" "$PUB/readyz" "$WORK/athmd.log" 30

"$LOADGEN" requests --url "$PUB" --count 4096 --out "$WORK/requests.bin"
KEY_FILE=$(find "$WORK/keys" -name '*.key' -type f | head -n 1)
# Two sets of tokens, one per run, each sent once.
for set in alone flooded; do
  "$LOADGEN" mint --key-file "$KEY_FILE" --count $(( DURATION * 6000 + 1000 )) --threads "$(nproc)" \
    --out "$WORK/tokens-$set.bin"
done

# Redemptions alone first (the baseline), then with the flood.
run_redeem() {  # run_redeem SET: output in $WORK/SET.txt
  timeout $(( DURATION + 60 )) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$REDEEM_CONNS" -d"${DURATION}s" \
    --timeout 10s --latency -s "$LOAD_DIR/redeem.lua" "$INT" -- "$WORK/tokens-$1.bin" 1 >"$WORK/$1.txt" 2>&1
}
run_redeem alone
timeout $(( DURATION + 60 )) taskset -c "$CLIENT_CPUS" wrk -t1 -c"$FLOOD_CONNS" -d"$(( DURATION + 2 ))s" \
  --timeout 10s --latency -s "$LOAD_DIR/issue.lua" "$PUB" -- "$WORK/requests.bin" /request \
  >"$WORK/flood.txt" 2>&1 &
FLOOD_PID=$!
sleep 1
run_redeem flooded
wait "$FLOOD_PID" || true
kill -0 "$DAEMON_PID" 2>/dev/null || { echo "isolation: athmd died; log:" >&2; tail -n 40 "$WORK/athmd.log" >&2; exit 1; }

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "### Redemption under an issuance flood, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "- Command: \`scripts/isolation.sh --athmd $ATHMD --duration $DURATION --flood-connections $FLOOD_CONNS --redeem-connections $REDEEM_CONNS --store $STORE --daemon-cpus $DAEMON_CPUS --client-cpus $CLIENT_CPUS\` (checkout $COMMIT)."
echo "- athmd on CPUs $DAEMON_CPUS ($THREADS I/O threads, store $STORE); both wrk on CPUs $CLIENT_CPUS."
echo
echo "| run | redemptions/s | redemption p50 | p99 | 200s | issuances/s | issuance p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| redemptions alone | $(wrk_rps "$WORK/alone.txt") | $(wrk_pct "$WORK/alone.txt" 50%) | $(wrk_pct "$WORK/alone.txt" 99%) | $(wrk_lua "$WORK/alone.txt" status_200) | | | |"
echo "| with $FLOOD_CONNS connections of issuance | $(wrk_rps "$WORK/flooded.txt") | $(wrk_pct "$WORK/flooded.txt" 50%) | $(wrk_pct "$WORK/flooded.txt" 99%) | $(wrk_lua "$WORK/flooded.txt" status_200) | $(wrk_rps "$WORK/flood.txt") | $(wrk_pct "$WORK/flood.txt" 50%) | $(wrk_pct "$WORK/flood.txt" 99%) |"
