#!/usr/bin/env bash
# Load test of the real athmd on loopback: issuance, redemption and the issuer
# directory under wrk, plus the engine-only bound measured in the same run.
# Not part of ctest. Results go to stdout as a Markdown section for
# docs/performance.md ("Daemon load test").
#
#   scripts/loadtest.sh [--duration S] [--connections C] [--engine-seconds S]
#                       [--daemon-cpus LIST] [--client-cpus LIST]
#                       [--build-dir DIR] [--no-build] [--issue-tokens]
#
#   --duration S        seconds per wrk run (default 20)
#   --connections C     wrk connections (default 32)
#   --daemon-cpus LIST  CPUs for athmd and for the engine-only bound, as for
#                       taskset -c (default 0); athmd gets one I/O thread and
#                       the bound one engine thread per CPU listed
#   --client-cpus LIST  CPUs for wrk (default 1; the machine needs two CPUs for the defaults);
#                       wrk gets one thread per CPU listed
#   --engine-seconds S  seconds per engine operation (default 5)
#   --build-dir DIR     Release build directory (default build-loadtest)
#   --no-build          use the binaries already in the build directory
#   --issue-tokens      get the redemption tokens through the issuance
#                       protocol instead of minting them with the dev key
#                       (slow: a few ms of CPU per token)
#
# Everything listens on 127.0.0.1 only; every step has a bounded duration.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
DURATION=20
DAEMON_CPUS=0
CLIENT_CPUS=1
CONNS=32
ENGINE_SECONDS=5
BUILD_DIR="$ROOT/build-loadtest"
BUILD=1
ISSUE_TOKENS=0
READY_TIMEOUT=30

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --daemon-cpus) DAEMON_CPUS=$2; shift 2 ;;
    --client-cpus) CLIENT_CPUS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --engine-seconds) ENGINE_SECONDS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --issue-tokens) ISSUE_TOKENS=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "loadtest: unknown argument $1" >&2; exit 2 ;;
  esac
done

require_tools loadtest wrk curl taskset

LOAD_DIR="$ROOT/tests/bench/load"
if [[ $BUILD -eq 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DATHM_BUILD_BENCH=ON -DATHM_BUILD_TESTS=ON >/dev/null
  cmake --build "$BUILD_DIR" --target athmd athm athm_loadgen -j"$(nproc)" >/dev/null
fi
ATHMD="$BUILD_DIR/server/athmd"
ATHM="$BUILD_DIR/tools/athm/athm"
LOADGEN="$BUILD_DIR/tests/bench/load/athm_loadgen"
for b in "$ATHMD" "$ATHM" "$LOADGEN"; do
  [[ -x $b ]] || { echo "loadtest: $b not built" >&2; exit 2; }
done

THREADS=$(count_cpus "$DAEMON_CPUS")
CLIENT_THREADS=$(count_cpus "$CLIENT_CPUS")
check_cpus loadtest --daemon-cpus "$DAEMON_CPUS"
check_cpus loadtest --client-cpus "$CLIENT_CPUS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-loadtest-XXXXXX")
DAEMON_PID=""
cleanup() {
  stop_pid "$DAEMON_PID"
  if [[ ${ATHM_LOADTEST_KEEP:-0} == 1 ]]; then echo "loadtest: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
pick_ports
PUB="http://127.0.0.1:$PUB_PORT"
INT="http://127.0.0.1:$INT_PORT"

# A production-shaped single node: LMDB with durable commits, the header
# attester (trusted from loopback, default bucket 0), text logs with the
# access log on (buffered, the default), one I/O thread per daemon CPU.
"$ATHM" keygen --dir "$WORK/keys" --buckets 4 --deployment-id athmd-dev >/dev/null
bench_config "$WORK/athmd.yaml" "$WORK/keys" "{type: lmdb, lmdb: {path: \"$WORK/spent\"}}" "$THREADS"
bench_config "$WORK/athmd-memory.yaml" "$WORK/keys" "{type: memory}" "$THREADS"

# start_daemon CONFIG: athmd pinned to the daemon CPUs, ready on /readyz.
start_daemon() {
  taskset -c "$DAEMON_CPUS" "$ATHMD" --config "$1" >>"$WORK/athmd.log" 2>&1 &
  DAEMON_PID=$!
  wait_ready loadtest "$DAEMON_PID" "$PUB/readyz" "$WORK/athmd.log" "$READY_TIMEOUT"
}
stop_daemon() {
  stop_pid "$DAEMON_PID"
  DAEMON_PID=""
}
start_daemon "$WORK/athmd.yaml"

# CPU seconds the daemon has used so far: "user+system system".
daemon_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f %.2f", ($14 + $15) / hz, $15 / hz }' \
    "/proc/$DAEMON_PID/stat"
}

# CPU seconds per thread name so far, "name seconds" per line: the I/O
# threads are athmd, the store's own threads athm-lmdb-wr, athm-lmdb-done
# (LMDB) and athm-mem-store (memory store).
thread_cpu() {
  local hz
  hz=$(getconf CLK_TCK)
  cat "/proc/$DAEMON_PID"/task/*/stat 2>/dev/null |
    awk -v hz="$hz" '{ sub(/^[0-9]+ \(/, ""); name = $0; sub(/\).*/, "", name);
                       rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ");
                       cpu[name] += (f[12] + f[13]) / hz }
                     END { for (n in cpu) printf "%s %.2f\n", n, cpu[n] }'
}

echo "loadtest: engine-only bound ($THREADS threads on CPUs $DAEMON_CPUS, ${ENGINE_SECONDS}s per operation)" >&2
# The bound is measured before and after the daemon runs (the mean is used;
# both are printed), so that drift of the machine shows.
taskset -c "$DAEMON_CPUS" "$LOADGEN" engine --seconds "$ENGINE_SECONDS" --threads "$THREADS" >"$WORK/engine-before.txt"
bound() {  # bound KEY: mean of the two engine runs (only the first until the second exists)
  cat "$WORK"/engine-*.txt | awk -F= -v k="engine.$1" '$1==k { s += $2; n++ } END { printf "%.1f", s / n }'
}
VERIFY_BOUND=$(bound verify_token.ops_per_s)

echo "loadtest: generating inputs" >&2
"$LOADGEN" requests --url "$PUB" --count 4096 --out "$WORK/requests.bin"
# Enough distinct tokens that none is sent twice even at the engine bound.
TOKENS=$(awk -v b="$VERIFY_BOUND" -v d="$DURATION" 'BEGIN { printf "%d", b * d * 1.3 + 1000 }')
KEY_FILE=$(find "$WORK/keys" -name '*.key' -type f | head -n 1)
if [[ $ISSUE_TOKENS -eq 0 && -n $KEY_FILE ]]; then
  TOKEN_SOURCE="minted with the key file ($TOKENS tokens)"
  "$LOADGEN" mint --key-file "$KEY_FILE" --count "$TOKENS" --threads "$(nproc)" --out "$WORK/tokens.bin"
else
  TOKEN_SOURCE="issued by the daemon ($TOKENS tokens)"
  "$LOADGEN" tokens --url "$PUB" --count "$TOKENS" --threads "$(nproc)" --out "$WORK/tokens.bin"
fi

# run_wrk NAME SCRIPT URL [script args...]: output in $WORK/wrk-NAME.txt,
# daemon CPU seconds used during the run in $WORK/cpu-NAME.txt (total) and
# $WORK/sys-NAME.txt (in the kernel).
run_wrk() {
  local name=$1 script=$2 url=$3
  shift 3
  echo "loadtest: wrk $name (${DURATION}s, $CLIENT_THREADS threads on CPUs $CLIENT_CPUS, $CONNS connections)" >&2
  local before after
  thread_cpu >"$WORK/threads-$name-before.txt"
  before=$(daemon_cpu)
  timeout $(( DURATION + 60 )) taskset -c "$CLIENT_CPUS" wrk -t"$CLIENT_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$script" "$url" -- "$@" >"$WORK/wrk-$name.txt" 2>&1
  after=$(daemon_cpu)
  thread_cpu >"$WORK/threads-$name-after.txt"
  awk -v a="${before% *}" -v b="${after% *}" 'BEGIN { printf "%.2f", b - a }' >"$WORK/cpu-$name.txt"
  awk -v a="${before#* }" -v b="${after#* }" 'BEGIN { printf "%.2f", b - a }' >"$WORK/sys-$name.txt"
}

run_wrk directory "$LOAD_DIR/status.lua" "$PUB/.well-known/private-token-issuer-directory"
run_wrk issuance "$LOAD_DIR/issue.lua" "$PUB" "$WORK/requests.bin" /request
run_wrk redemption "$LOAD_DIR/redeem.lua" "$INT" "$WORK/tokens.bin" "$CLIENT_THREADS"
kill -0 "$DAEMON_PID" 2>/dev/null || { echo "loadtest: athmd died; log:" >&2; tail -n 40 "$WORK/athmd.log" >&2; exit 1; }
stop_daemon

# The same redemption load on the memory store: the daemon's own overhead,
# without the durable write (the memory store is for tests only).
start_daemon "$WORK/athmd-memory.yaml"
run_wrk redemption-memory "$LOAD_DIR/redeem.lua" "$INT" "$WORK/tokens.bin" "$CLIENT_THREADS"
kill -0 "$DAEMON_PID" 2>/dev/null || { echo "loadtest: athmd died; log:" >&2; tail -n 40 "$WORK/athmd.log" >&2; exit 1; }
stop_daemon

echo "loadtest: engine-only bound again" >&2
taskset -c "$DAEMON_CPUS" "$LOADGEN" engine --seconds "$ENGINE_SECONDS" --threads "$THREADS" >"$WORK/engine-after.txt"
ISSUE_BOUND=$(bound token_response.ops_per_s)
VERIFY_BOUND=$(bound verify_token.ops_per_s)
ISSUE_CPU_BOUND=$(bound token_response.ops_per_cpu_s)
VERIFY_CPU_BOUND=$(bound verify_token.ops_per_cpu_s)
engine_runs() {  # engine_runs KEY: "before / after"
  printf '%s / %s' "$(awk -F= -v k="engine.$1" '$1==k {print $2}' "$WORK/engine-before.txt")" \
    "$(awk -F= -v k="engine.$1" '$1==k {print $2}' "$WORK/engine-after.txt")"
}

# Fields of run NAME's wrk report.
rps() { wrk_rps "$WORK/wrk-$1.txt"; }
pct() { wrk_pct "$WORK/wrk-$1.txt" "$2"; }
lua() { wrk_lua "$WORK/wrk-$1.txt" "$2"; }
errs() {
  local e
  e=$(grep -E '^ *(Socket errors|Non-2xx)' "$WORK/wrk-$1.txt" | sed 's/^ *//' | paste -sd ';' -) || true
  echo "${e:-none}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b; else print "n/a" }'; }
cores() {
  awk -v c="$(cat "$WORK/cpu-$1.txt")" -v s="$(cat "$WORK/sys-$1.txt")" -v d="$DURATION" \
    'BEGIN { printf "%.2f (sys %.2f)", c / d, s / d }'
}
# Successful requests per second of daemon CPU time.
per_cpu() {
  awk -v n="$(lua "$1" status_200)" -v c="$(cat "$WORK/cpu-$1.txt")" \
    'BEGIN { if (c > 0) printf "%.1f", n / c; else print "n/a" }'
}

# Daemon CPU microseconds per 200 of run NAME, on the I/O threads (io) or on
# every other thread (store: the spent store's writer, notifier or worker).
thread_us() {
  awk -v which="$2" -v n="$(lua "$1" status_200)" '
    FNR == NR { before[$1] = $2; next }
    { d = $2 - before[$1]; if (($1 == "athmd") == (which == "io")) s += d }
    END { if (n > 0) printf "%.1f", 1e6 * s / n; else print "n/a" }' \
    "$WORK/threads-$1-before.txt" "$WORK/threads-$1-after.txt"
}
# The most a redemption could reach with the store's threads as measured and
# the cheapest HTTP exchange (a directory GET) as its only other cost:
# engine / (engine + directory + store threads), as a percentage.
ceiling() {
  awk -v e="$(awk -v b="$VERIFY_CPU_BOUND" 'BEGIN { print 1e6 / b }')" \
    -v d="$(thread_us directory io)" -v st="$(thread_us "$1" store)" \
    'BEGIN { printf "%.0f %%", 100 * e / (e + d + st) }'
}

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT="$COMMIT (with uncommitted changes)"; fi

ISSUE_RPS=$(rps issuance)
ISSUE_PER_CPU=$(per_cpu issuance)
REDEEM_PER_CPU=$(per_cpu redemption)
# Redemptions that spent a token, per second (409s after the tokens ran
# out do not count).
spends_per_s() {
  awk -v r="$(rps "$1")" -v ok="$(lua "$1" status_200)" \
    -v sp="$(lua "$1" status_409)" -v ot="$(lua "$1" status_other)" \
    'BEGIN { t = ok + sp + ot; printf "%.2f", (t > 0 ? r * ok / t : 0) }'
}
REDEEM_RPS=$(spends_per_s redemption)
MEM_RPS=$(spends_per_s redemption-memory)
MEM_PER_CPU=$(per_cpu redemption-memory)

cat <<EOF
### Run of $STARTED

- Machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, $(uname -sr); load average (1, 5, 15 min) before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
- Commit: $COMMIT. Build: Release, \`$BUILD_DIR\`.
- Command: \`scripts/loadtest.sh --duration $DURATION --connections $CONNS --engine-seconds $ENGINE_SECONDS --daemon-cpus $DAEMON_CPUS --client-cpus $CLIENT_CPUS\`
- CPUs: athmd and the engine-only bound on CPUs $DAEMON_CPUS ($THREADS I/O threads, $THREADS engine threads); wrk on CPUs $CLIENT_CPUS (\`wrk -t$CLIENT_THREADS -c$CONNS -d${DURATION}s --latency\`).
- Daemon: \`athmd --config\` (n = 4, LMDB in a temp directory with durable commits, header attester, access log on and buffered); the memory-store row runs a second daemon with the same config but \`store: {type: memory}\`.
- Redemption tokens: $TOKEN_SOURCE, each sent at most once while they last.

| endpoint | requests/s | p50 | p99 | 200 | other statuses | daemon CPU (cores) | 200s per daemon CPU-second |
|---|---:|---:|---:|---:|---:|---:|---:|
| GET directory | $(rps directory) | $(pct directory 50%) | $(pct directory 99%) | $(lua directory status_200) | $(lua directory status_other) | $(cores directory) | $(per_cpu directory) |
| POST /request (issuance) | $ISSUE_RPS | $(pct issuance 50%) | $(pct issuance 99%) | $(lua issuance status_200) | $(lua issuance status_other) | $(cores issuance) | $ISSUE_PER_CPU |
| POST /redeem (distinct tokens) | $(rps redemption) (spends: $REDEEM_RPS) | $(pct redemption 50%) | $(pct redemption 99%) | $(lua redemption status_200) | 409: $(lua redemption status_409), other: $(lua redemption status_other) | $(cores redemption) | $REDEEM_PER_CPU |
| POST /redeem, memory store | $(rps redemption-memory) (spends: $MEM_RPS) | $(pct redemption-memory 50%) | $(pct redemption-memory 99%) | $(lua redemption-memory status_200) | 409: $(lua redemption-memory status_409), other: $(lua redemption-memory status_other) | $(cores redemption-memory) | $MEM_PER_CPU |

| engine-only bound ($THREADS threads, n = 4) | ops/s | ops per CPU-second | daemon / bound (wall clock) | daemon / bound (per CPU-second) |
|---|---:|---:|---:|---:|
| token_response vs issuance | $ISSUE_BOUND | $ISSUE_CPU_BOUND | $(ratio "$ISSUE_RPS" "$ISSUE_BOUND") | $(ratio "$ISSUE_PER_CPU" "$ISSUE_CPU_BOUND") |
| verify_token vs redemption | $VERIFY_BOUND | $VERIFY_CPU_BOUND | $(ratio "$REDEEM_RPS" "$VERIFY_BOUND") | $(ratio "$REDEEM_PER_CPU" "$VERIFY_CPU_BOUND") |
| verify_token vs redemption, memory store | $VERIFY_BOUND | $VERIFY_CPU_BOUND | $(ratio "$MEM_RPS" "$VERIFY_BOUND") | $(ratio "$MEM_PER_CPU" "$VERIFY_CPU_BOUND") |

Daemon CPU per 200, by thread (µs): the I/O threads do HTTP, the handler
and the engine; the store's threads (LMDB writer and notifier, or the memory
store's worker) do the spend. \`verify_token\` alone costs $(awk -v b="$VERIFY_CPU_BOUND" 'BEGIN { printf "%.1f", 1e6 / b }') µs of CPU (the engine-only bound per CPU-second).

| run | I/O threads | store threads | ceiling: engine / (engine + directory GET + store threads) |
|---|---:|---:|---:|
| GET directory | $(thread_us directory io) | $(thread_us directory store) | |
| POST /request (issuance) | $(thread_us issuance io) | $(thread_us issuance store) | |
| POST /redeem, LMDB | $(thread_us redemption io) | $(thread_us redemption store) | $(ceiling redemption) |
| POST /redeem, memory store | $(thread_us redemption-memory io) | $(thread_us redemption-memory store) | $(ceiling redemption-memory) |

Engine-only ops/s before / after the daemon runs: token_response $(engine_runs token_response.ops_per_s), verify_token $(engine_runs verify_token.ops_per_s).

wrk errors: directory: $(errs directory); issuance: $(errs issuance); redemption: $(errs redemption); redemption, memory store: $(errs redemption-memory).
EOF
