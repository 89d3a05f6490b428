#!/usr/bin/env bash
# End-to-end timing-leak measurement of the hidden bucket over HTTP on
# loopback: starts `athmd --dev` on two free loopback ports with a fresh state
# directory and runs athm_timing_e2e against it (issuance with X-Athm-Bucket 0
# against n-1, redemption of bucket-0 tokens against bucket-(n-1) tokens,
# Welch's t, response shape checks). Not part of ctest. Prints the tool's
# report plus the machine's load average before and after, for
# docs/security.md ("End-to-end timing").
#
#   scripts/timing-e2e.sh [--issue-samples N] [--redeem-samples N] [--seed S]
#                         [--build-dir DIR] [--no-build] [--keep]
#
#   --issue-samples N   issuance samples (default 20000)
#   --redeem-samples N  redemption samples, one fresh token each (default 40000;
#                       the tokens are issued through the daemon first, which
#                       takes a few minutes)
#   --seed S            class schedule seed (default 1)
#   --build-dir DIR     build directory (default ./build, RelWithDebInfo)
#   --no-build          use the binaries already in the build directory
#   --keep              keep the work directory (daemon log, state)
#
# Exit code: the tool's (0: shapes identical; 1: responses differ between
# buckets; 2: error). Everything listens on 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
ISSUE=20000
REDEEM=40000
SEED=1
BUILD_DIR="$ROOT/build"
BUILD=1
KEEP=0
READY_TIMEOUT=30

while [[ $# -gt 0 ]]; do
  case "$1" in
    --issue-samples) ISSUE=$2; shift 2 ;;
    --redeem-samples) REDEEM=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "timing-e2e: unknown argument $1" >&2; exit 2 ;;
  esac
done

command -v curl >/dev/null || { echo "timing-e2e: curl is not installed" >&2; exit 2; }
if [[ $BUILD -eq 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null
  cmake --build "$BUILD_DIR" --target athmd athm_timing_e2e -j"$(nproc)" >/dev/null
fi
ATHMD="$BUILD_DIR/server/athmd"
TOOL="$BUILD_DIR/tests/integration/athm_timing_e2e"
[[ -x $ATHMD ]] || { echo "timing-e2e: $ATHMD not built" >&2; exit 2; }
[[ -x $TOOL ]] || { echo "timing-e2e: $TOOL not built" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-timing-e2e-XXXXXX")
DAEMON_PID=""
cleanup() {
  stop_pid "$DAEMON_PID" 200
  if [[ $KEEP -eq 1 ]]; then echo "timing-e2e: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pick_ports

"$ATHMD" --dev --listen "127.0.0.1:$PUB_PORT" --internal-listen "127.0.0.1:$INT_PORT" \
  --state-dir "$WORK/state" >"$WORK/athmd.log" 2>&1 &
DAEMON_PID=$!
wait_ready timing-e2e "$DAEMON_PID" "http://127.0.0.1:$PUB_PORT/readyz" "$WORK/athmd.log" "$READY_TIMEOUT"

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
echo "started $(date -u +%Y-%m-%dT%H:%M:%SZ); commit $COMMIT; $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: scripts/timing-e2e.sh --issue-samples $ISSUE --redeem-samples $REDEEM --seed $SEED"
echo "daemon: athmd --dev (n = 4, LMDB, header attester, access log on), pid $DAEMON_PID"
LOG_LINES=$(wc -l <"$WORK/athmd.log")
set +e
"$TOOL" --public-port "$PUB_PORT" --internal-port "$INT_PORT" --issue-samples "$ISSUE" \
  --redeem-samples "$REDEEM" --seed "$SEED"
RC=$?
set -e
echo "finished $(date -u +%Y-%m-%dT%H:%M:%SZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -0 "$DAEMON_PID" 2>/dev/null || { echo "timing-e2e: athmd died; log:" >&2; tail -n 40 "$WORK/athmd.log" >&2; exit 2; }
# Per-request log lines other than the access log could differ by bucket
# (content, size or time to write): there must be none.
OTHER=$(tail -n +"$((LOG_LINES + 1))" "$WORK/athmd.log" | grep -cv ' access: ' || true)
echo "daemon log lines during the run other than access-log lines: $OTHER"
if [[ $OTHER -gt 0 ]]; then
  tail -n +"$((LOG_LINES + 1))" "$WORK/athmd.log" | grep -v ' access: ' | head -n 5
fi
exit "$RC"
