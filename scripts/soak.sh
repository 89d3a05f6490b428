#!/usr/bin/env bash
# Load, soak and idle-connection run of the real athmd on loopback: starts
# the daemon with a config built for it (a fresh key from `athm keygen`,
# LMDB, the header attester trusted from loopback, limits.max_connections
# 20000 and a 10-minute idle timeout so that 10 000 idle keep-alive
# connections fit and stay), raises `ulimit -n`, and runs athm_soak against
# it: a short ramp to measure capacity, sustained issuance + redemption at
# 80 % of it with p50/p99 per minute and the daemon's RSS every 10 s (the
# redeemed tokens are minted beforehand with the key file by
# `athm_loadgen mint`, so the client does only HTTP while it measures), then
# 10 000 idle keep-alive connections and what they cost the daemon. Not part
# of ctest. Prints a Markdown report for docs/performance.md ("Load and soak").
#
#   scripts/soak.sh [--duration S] [--fraction F] [--rate OPS] [--workers W]
#                   [--idle-connections N] [--idle-hold S] [--ramp-step S]
#                   [--io-threads T] [--build-dir DIR] [--no-build] [--keep]
#                   [--tls] [--steadiness S] [--store-cpus LIST] [--writer-nice N]
#
#   --duration S          seconds of sustained load (default 180)
#   --fraction F          target rate as a fraction of the capacity (default 0.8)
#   --rate OPS            fixed target rate in operations/s (skips the ramp)
#   --workers W           client threads of the open loop (default 16)
#   --idle-connections N  idle keep-alive connections to open (default 10000)
#   --idle-hold S         seconds to hold them (default 10)
#   --idle-rounds R       open, hold and close them R times (default 2; the
#                         second round shows whether closed connections'
#                         memory is reused)
#   --ramp-step S         seconds per ramp step (default 5)
#   --tokens N            tokens to mint for the ramp and the load (default
#                         2000 per second of ramp and load)
#   --skip-load           only the idle connections (no ramp, no load)
#   --tls                 serve the public listener over HTTPS (a throwaway
#                         self-signed P-256 certificate for 127.0.0.1 made
#                         with the openssl command line): issuance and the
#                         idle connections then use TLS; redemption stays
#                         on the internal listener, over plain HTTP
#   --io-threads T        daemon I/O threads (default 2)
#   --daemon-cpus LIST    pin athmd to these CPUs (taskset -c; default: not pinned)
#   --client-cpus LIST    pin athm_soak to these CPUs (default: not pinned)
#   --store-cpus LIST     once athmd is ready, move the LMDB store's threads
#                         (athm-lmdb-wr, athm-lmdb-done) to these CPUs
#                         (taskset -p; default: where athmd runs)
#   --writer-nice N       once athmd is ready, renice the LMDB writer to N
#                         (default: as shipped, ten levels below athmd)
#   --store lmdb|memory   spent-token store (default lmdb; memory is the
#                         test-only store, to separate the LMDB commit from
#                         the rest of a redemption's latency)
#   --build-dir DIR       build directory (default ./build, RelWithDebInfo)
#   --no-build            use the binaries already in the build directory
#   --keep                keep the work directory (daemon log, config, LMDB)
#   --steadiness S        first run scripts/cpu-steadiness.sh for S seconds
#                         (default 10; 0 skips it) and report whether the
#                         CPUs ran fixed work at a steady speed: the p99
#                         verdict means little on a machine that did not
#                         (docs/performance.md, "The vCPUs' speed varies")
#
# Every step is bounded in time and nothing listens beyond 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
ORIG_ARGS="$*"
DURATION=180
FRACTION=0.8
RATE=0
WORKERS=16
IDLE=10000
IDLE_HOLD=10
IDLE_ROUNDS=2
RAMP_STEP=5
TOKENS=0
IO_THREADS=2
DAEMON_CPUS=""
CLIENT_CPUS=""
STORE_CPUS=""
WRITER_NICE=""
STORE=lmdb
SKIP_LOAD=0
TLS=0
BUILD_DIR="$ROOT/build"
BUILD=1
KEEP=0
READY_TIMEOUT=30
STEADINESS=10

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --fraction) FRACTION=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --idle-connections) IDLE=$2; shift 2 ;;
    --idle-hold) IDLE_HOLD=$2; shift 2 ;;
    --idle-rounds) IDLE_ROUNDS=$2; shift 2 ;;
    --ramp-step) RAMP_STEP=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --io-threads) IO_THREADS=$2; shift 2 ;;
    --daemon-cpus) DAEMON_CPUS=$2; shift 2 ;;
    --client-cpus) CLIENT_CPUS=$2; shift 2 ;;
    --store-cpus) STORE_CPUS=$2; shift 2 ;;
    --writer-nice) WRITER_NICE=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    --skip-load) SKIP_LOAD=1; shift ;;
    --tls) TLS=1; shift ;;
    --steadiness) STEADINESS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,46p' "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done

command -v curl >/dev/null || { echo "soak: curl is not installed" >&2; exit 2; }
# pinned LIST: the taskset prefix for LIST, nothing when LIST is empty.
pinned() { if [[ -n $1 ]]; then echo taskset -c "$1"; fi; }
for cpus in "$DAEMON_CPUS" "$CLIENT_CPUS" "$STORE_CPUS"; do
  [[ -z $cpus ]] || taskset -c "$cpus" true 2>/dev/null || { echo "soak: bad CPU list $cpus" >&2; exit 2; }
done
# The client and the daemon (which inherits this limit) each hold one
# descriptor per idle connection, plus their own.
WANT_FDS=$(( IDLE + 1024 ))
HARD=$(ulimit -Hn)
if [[ $HARD != unlimited && $HARD -lt $WANT_FDS ]]; then
  echo "soak: the hard limit on open files is $HARD; $WANT_FDS are needed for $IDLE idle connections" >&2
  exit 2
fi
ulimit -n "$WANT_FDS"

if [[ $BUILD -eq 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null
  cmake --build "$BUILD_DIR" --target athmd athm athm_soak athm_loadgen -j"$(nproc)" >/dev/null
fi
ATHMD="$BUILD_DIR/server/athmd"
ATHM="$BUILD_DIR/tools/athm/athm"
TOOL="$BUILD_DIR/tests/integration/athm_soak"
LOADGEN="$BUILD_DIR/tests/bench/load/athm_loadgen"
for b in "$ATHMD" "$ATHM" "$TOOL" "$LOADGEN"; do
  [[ -x $b ]] || { echo "soak: $b not built" >&2; exit 2; }
done

if [[ $TLS -eq 1 ]]; then require_tools soak openssl; fi
STEADY_REPORT=""
if [[ $STEADINESS != 0 ]]; then
  STEADY_REPORT=$(bash "$ROOT/scripts/cpu-steadiness.sh" --seconds "$STEADINESS")
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-soak-XXXXXX")
DAEMON_PID=""
cleanup() {
  stop_pid "$DAEMON_PID" 200
  if [[ $KEEP -eq 1 ]]; then echo "soak: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pick_ports

mkdir -m 0700 "$WORK/keys" "$WORK/spent"
"$ATHM" keygen --dir "$WORK/keys" --buckets 4 --deployment-id athmd-soak \
  --not-before -1h --expires +2d >/dev/null
SCHEME=http
TLS_CA=""
PUBLIC_TLS=""
if [[ $TLS -eq 1 ]]; then
  SCHEME=https
  TLS_CA=$WORK/tls.pem
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=athmd-soak -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$WORK/tls.key" -out "$TLS_CA" 2>/dev/null)
  PUBLIC_TLS=$(printf '    tls:\n      cert_file: %s\n      key_file: %s' "$TLS_CA" "$WORK/tls.key")
fi
cat >"$WORK/athmd.yaml" <<EOF
listeners:
  public:
    address: 127.0.0.1
    port: $PUB_PORT
$PUBLIC_TLS
  internal:
    address: 127.0.0.1
    port: $INT_PORT
limits:
  max_connections: 20000
  idle_timeout_ms: 600000
issuer:
  request_uri: $SCHEME://127.0.0.1:$PUB_PORT/request
keys:
  directory: $WORK/keys
  reload_interval_s: 0
store:
  type: $STORE
  lmdb:
    path: $WORK/spent
attester:
  type: header
  header:
    name: X-Athm-Bucket
    trusted_cidrs: [127.0.0.0/8]
    default_bucket: 0
logging:
  level: info
  format: text
  access_log: true
server:
  io_threads: $IO_THREADS
EOF
"$ATHMD" --check-config "$WORK/athmd.yaml" >/dev/null
if [[ $SKIP_LOAD -eq 0 ]]; then
  if [[ $TOKENS -eq 0 ]]; then
    TOKENS=$(awk -v d="$DURATION" -v r="$RAMP_STEP" 'BEGIN { printf "%d", 2000 * (d + 4 * r) }')
  fi
  "$LOADGEN" mint --key-file "$(find "$WORK/keys" -name '*.key' | head -n 1)" --count "$TOKENS" \
    --threads "$(nproc)" --out "$WORK/tokens.bin" 2>/dev/null
fi

$(pinned "$DAEMON_CPUS") "$ATHMD" --config "$WORK/athmd.yaml" >"$WORK/athmd.log" 2>&1 &
DAEMON_PID=$!
wait_ready soak "$DAEMON_PID" "$SCHEME://127.0.0.1:$PUB_PORT/readyz" "$WORK/athmd.log" "$READY_TIMEOUT" \
  ${TLS_CA:+--cacert "$TLS_CA"}

# The store's threads, placed or reniced at run time (--store-cpus,
# --writer-nice); each change is listed in the report.
STORE_THREADS=""
if [[ -n $STORE_CPUS || -n $WRITER_NICE ]]; then
  for task in /proc/"$DAEMON_PID"/task/*; do
    tid=${task##*/}
    name=$(cat "$task/comm" 2>/dev/null || true)
    case "$name" in athm-lmdb-wr | athm-lmdb-done) ;; *) continue ;; esac
    if [[ -n $STORE_CPUS ]]; then
      taskset -p -c "$STORE_CPUS" "$tid" >/dev/null || { echo "soak: cannot move $name" >&2; exit 1; }
      STORE_THREADS="$STORE_THREADS $name on CPUs $STORE_CPUS;"
    fi
    if [[ -n $WRITER_NICE && $name == athm-lmdb-wr ]]; then
      renice -n "$WRITER_NICE" -p "$tid" >/dev/null || { echo "soak: cannot renice $name" >&2; exit 1; }
      STORE_THREADS="$STORE_THREADS $name at nice $WRITER_NICE;"
    fi
  done
  [[ -n $STORE_THREADS ]] || { echo "soak: no LMDB store thread found (--store lmdb?)" >&2; exit 1; }
fi

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
ARGS=(--duration "$DURATION" --fraction "$FRACTION" --workers "$WORKERS"
      --idle-connections "$IDLE" --idle-hold "$IDLE_HOLD" --idle-rounds "$IDLE_ROUNDS" --ramp-step "$RAMP_STEP")
if [[ $RATE != 0 ]]; then ARGS+=(--rate "$RATE"); fi
if [[ $SKIP_LOAD -eq 1 ]]; then ARGS+=(--skip-load); else ARGS+=(--tokens "$WORK/tokens.bin"); fi
if [[ $TLS -eq 1 ]]; then ARGS+=(--tls-ca "$TLS_CA"); fi

cat <<EOF
### Soak run of $(date -u +%Y-%m-%dT%H:%M:%SZ)

- Machine: $(nproc) CPUs, $(uname -sr); load average (1, 5, 15 min) before: $(cut -d' ' -f1-3 /proc/loadavg).
- Commit: $COMMIT. Build: \`$BUILD_DIR\` ($(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || echo unknown)).
- Command: \`scripts/soak.sh${ORIG_ARGS:+ $ORIG_ARGS}\` (effective: duration $DURATION s, fraction $FRACTION, rate $RATE, tokens $TOKENS, workers $WORKERS, idle $IDLE, io_threads $IO_THREADS, store $STORE, public listener $SCHEME, daemon CPUs ${DAEMON_CPUS:-any}, client CPUs ${CLIENT_CPUS:-any}); \`ulimit -n $WANT_FDS\`.
- Daemon: \`athmd --config\` (n = 4, store $STORE, header attester, access log on, $IO_THREADS I/O threads), pid $DAEMON_PID, RSS at start $(awk '/^VmRSS/ {print $2, $3}' "/proc/$DAEMON_PID/status").${STORE_THREADS:+ Changed at run time:$STORE_THREADS}

EOF
if [[ -n $STEADY_REPORT ]]; then
  printf 'Before the run, with nothing of the soak running (%s):\n\n```\n%s\n```\n\n' \
    "scripts/cpu-steadiness.sh --seconds $STEADINESS" "$STEADY_REPORT"
fi
set +e
$(pinned "$CLIENT_CPUS") "$TOOL" --public-port "$PUB_PORT" --internal-port "$INT_PORT" --pid "$DAEMON_PID" "${ARGS[@]}" |
  tee "$WORK/report.md"
RC=${PIPESTATUS[0]}
set -e
# The daemon's own latency histograms, scraped once the load is over.
curl -sf --max-time 10 -o "$WORK/metrics.txt" "http://127.0.0.1:$INT_PORT/metrics" || : >"$WORK/metrics.txt"

# The same exchanges seen by the daemon: its access log times each request
# from its first byte to the end of the response write. Comparing these with
# the client's figures separates time spent in the daemon from time the
# client or the machine added.
WINDOW=$(sed -n 's/^Load window (UTC): \(.*\) to \(.*\)$/\1 \2/p' "$WORK/report.md")
if [[ -n $WINDOW ]]; then
  read -r FROM TO <<<"$WINDOW"
  server_pct() {
    awk -v from="$FROM" -v to="$TO" -v what="\"$1\" 200" \
      '$1 >= from && $1 <= to && index($0, " access: ") && index($0, what) {
         d = $NF; sub(/ms$/, "", d); print d }' "$WORK/athmd.log" | sort -n |
      awk '{ v[NR] = $1 } END {
             if (NR == 0) { print "| n/a | n/a | n/a |"; exit }
             p50 = v[int(NR * 0.50) + 1]; p99 = v[int(NR * 0.99) + 1] + 0;
             printf "| %d | %.2f ms | %.2f ms | %.1f |\n", NR, p50, p99, (p50 > 0 ? p99 / p50 : 0) }'
  }
  echo "Server side (access log, load window only):"
  echo
  echo "| exchange | requests | p50 | p99 | p99/p50 |"
  echo "|---|---:|---:|---:|---:|"
  echo "| issuance $(server_pct "POST /request")"
  echo "| redemption $(server_pct "POST /redeem")"
  echo
fi
# hist_pct SERIES: "| count | p50 | p99 | p99/p50 |" of a histogram of
# /metrics (SERIES = name{labels without le}), interpolated linearly within
# a bucket as Prometheus' histogram_quantile does.
hist_pct() {
  awk -v series="$1" '
    BEGIN { name = series; sub(/\{.*/, "", name); labels = series; sub(/^[^{]*\{/, "", labels); sub(/\}$/, "", labels) }
    index($0, name "_bucket{" labels ",le=\"") == 1 {
      le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le);
      n++; bound[n] = (le == "+Inf" ? -1 : le + 0); count[n] = $2 + 0 }
    function q(p,   target, i, lo, clo) {
      target = p * count[n]; lo = 0; clo = 0
      for (i = 1; i <= n; i++) {
        if (count[i] >= target) {
          if (bound[i] < 0) return lo
          return lo + (bound[i] - lo) * (count[i] > clo ? (target - clo) / (count[i] - clo) : 1)
        }
        lo = bound[i]; clo = count[i]
      }
      return lo
    }
    END {
      if (n == 0 || count[n] == 0) { print "| 0 | n/a | n/a | n/a |"; exit }
      p50 = q(0.5); p99 = q(0.99)
      printf "| %d | %.2f ms | %.2f ms | %.1f |\n", count[n], 1000 * p50, 1000 * p99, (p50 > 0 ? p99 / p50 : 0) }' \
    "$WORK/metrics.txt"
}
if [[ -s $WORK/metrics.txt ]]; then
  echo "Inside the daemon (its /metrics histograms after the run, ramp included; buckets"
  echo "0.1, 0.25, 0.5, 1, 2.5, 5, 10 ms and so on, so the percentiles are interpolations):"
  echo
  echo "| series | count | p50 | p99 | p99/p50 |"
  echo "|---|---:|---:|---:|---:|"
  echo "| issuance, handler to response $(hist_pct 'athmd_request_duration_seconds{endpoint="issue"}')"
  echo "| redemption, handler to response $(hist_pct 'athmd_request_duration_seconds{endpoint="redeem"}')"
  echo "| spent store, check-and-mark to completion (fresh) $(hist_pct 'athmd_store_duration_seconds{outcome="fresh"}')"
  echo
fi
echo "- Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
  echo "soak: athmd died; log:" >&2
  tail -n 40 "$WORK/athmd.log" >&2
  exit 2
fi
ERRORS=$(grep -cE ' (error|critical) ' "$WORK/athmd.log" || true)
echo "- Daemon log: $(wc -l <"$WORK/athmd.log") lines, $ERRORS at error level."
exit "$RC"
