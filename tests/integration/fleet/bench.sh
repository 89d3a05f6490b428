#!/usr/bin/env bash
# Redemption throughput and latency of athmd with the Redis spent store
# against LMDB, each measured directly on the internal listener and through
# nginx (the shipped deploy/compose/nginx.conf adapted to loopback by
# make_nginx_conf.py, /redeem on its internal server). Not part of ctest.
# Prints a Markdown section for docs/performance.md ("Fleet: Redis against
# LMDB, nginx against direct").
#
#   tests/integration/fleet/bench.sh [--duration S] [--threads T]
#                                    [--connections C] [--build-dir DIR]
#                                    [--no-build]
#
# One athmd per store (config mode, one key from `athm keygen`, two I/O
# threads), a redis-server with appendonly yes / appendfsync always, and
# tokens minted with the key by athm_loadgen so that each run spends distinct
# tokens. Everything on 127.0.0.1; every step is bounded in time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
HERE="$ROOT/tests/integration/fleet"
DURATION=10
THREADS=2
CONNS=32
BUILD_DIR="$ROOT/build-fleet-bench"
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fleet-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl redis-server redis-cli nginx python3; do
  command -v "$tool" >/dev/null || { echo "fleet-bench: $tool is not installed" >&2; exit 2; }
done
if [[ $BUILD -eq 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DATHM_BUILD_BENCH=ON -DATHM_BUILD_TESTS=ON >/dev/null
  cmake --build "$BUILD_DIR" --target athmd athm athm_loadgen -j"$(nproc)" >/dev/null
fi
ATHMD="$BUILD_DIR/server/athmd"
ATHM=$(find "$BUILD_DIR/tools" -name athm -type f -perm -u+x | head -n 1)
LOADGEN="$BUILD_DIR/tests/bench/load/athm_loadgen"
for b in "$ATHMD" "$ATHM" "$LOADGEN"; do
  [[ -x $b ]] || { echo "fleet-bench: $b not built" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/athm-fleet-bench-XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {  # URL: until it answers 200, at most 30 s
  local deadline=$(( SECONDS + 30 ))
  until curl -sf -o /dev/null --max-time 2 "$1"; do
    (( SECONDS < deadline )) || { echo "fleet-bench: $1 not ready" >&2; exit 1; }
    sleep 0.2
  done
}

"$ATHM" keygen --dir "$WORK/keys" --buckets 4 --deployment-id fleet-bench \
  --not-before -1h --expires +3d >/dev/null
KEY_FILE=$(find "$WORK/keys" -name '*.key' -type f | head -n 1)

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" --appendonly yes \
  --appendfsync always --save '' --daemonize no >"$WORK/redis/redis.log" 2>&1 &
PIDS+=($!)

# start_athmd NAME STORE_YAML: sets PUB_<NAME> and INT_<NAME>.
start_athmd() {
  local name=$1 store=$2 pub int
  pub=$(free_port); int=$(free_port)
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/athmd.yaml" <<YAML
listeners:
  public: {address: 127.0.0.1, port: $pub}
  internal: {address: 127.0.0.1, port: $int}
issuer:
  request_uri: http://127.0.0.1:$pub/request
keys:
  directory: $WORK/keys
  reload_interval_s: 0
$store
attester:
  type: header
  header: {name: X-Athm-Bucket, trusted_cidrs: [127.0.0.0/8], default_bucket: 0}
logging: {level: warn, format: text}
server: {io_threads: 2, shutdown_grace_ms: 2000}
YAML
  "$ATHMD" --config "$WORK/$name/athmd.yaml" >"$WORK/$name/athmd.log" 2>&1 &
  PIDS+=($!)
  eval "PUB_$name=$pub INT_$name=$int"
}
mkdir -p "$WORK/lmdb/spent"
start_athmd lmdb "store: {type: lmdb, lmdb: {path: $WORK/lmdb/spent, map_size_mb: 256}}"
start_athmd redis "store: {type: redis, redis: {host: 127.0.0.1, port: $REDIS_PORT, key_prefix: bench}}"
wait_http "http://127.0.0.1:$INT_lmdb/readyz"
wait_http "http://127.0.0.1:$INT_redis/readyz"

# One nginx per store, its three upstream slots all on that store's replica.
start_nginx() {  # NAME: sets LB_<NAME> (the internal server with /redeem)
  local name=$1 dir="$WORK/nginx-$1" pub_var="PUB_$1" int_var="INT_$1" lb
  mkdir -p "$dir"; chmod 755 "$dir"
  lb=$(free_port)
  local pair="${!pub_var}:${!int_var}"
  python3 "$HERE/make_nginx_conf.py" --repo "$ROOT" --dir "$dir" --replicas "$pair,$pair,$pair" \
    --tls-port "$(free_port)" --plain-port "$(free_port)" --internal-port "$lb" \
    --origin-port "$(free_port)"
  nginx -c "$dir/nginx.conf" -p "$dir/" -e "$dir/log/error.log" \
    -g "daemon off; pid $dir/nginx.pid;" >"$dir/nginx.out" 2>&1 &
  PIDS+=($!)
  eval "LB_$name=$lb"
}
start_nginx lmdb
start_nginx redis
sleep 1

# Distinct tokens per run: more than any run can spend at the engine bound.
TOKENS=$(( DURATION * 10000 ))
for run in lmdb-direct lmdb-nginx redis-direct redis-nginx; do
  "$LOADGEN" mint --key-file "$KEY_FILE" --count "$TOKENS" --threads "$THREADS" --out "$WORK/tokens-$run.bin"
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# run_wrk NAME PORT METRICS_PORT: athmd's /metrics is scraped before and
# after, so that its histograms can be read for this run alone.
run_wrk() {
  curl -sf --max-time 5 -o "$WORK/metrics-$1.before" "http://127.0.0.1:$3/metrics"
  timeout $(( DURATION + 60 )) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$ROOT/tests/bench/load/redeem.lua" "http://127.0.0.1:$2" -- "$WORK/tokens-$1.bin" "$THREADS" \
    >"$WORK/wrk-$1.txt" 2>&1
  curl -sf --max-time 5 -o "$WORK/metrics-$1.after" "http://127.0.0.1:$3/metrics"
}
run_wrk lmdb-direct "$INT_lmdb" "$INT_lmdb"
run_wrk lmdb-nginx "$LB_lmdb" "$INT_lmdb"
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
run_wrk redis-direct "$INT_redis" "$INT_redis"
run_wrk redis-nginx "$LB_redis" "$INT_redis"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
# Commands Redis ran during the two Redis runs: one SET per verified token
# if a check-and-mark is one command.
REDIS_CMDS=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
  awk -F'[:=,]' '$1 ~ /^cmdstat_/ {printf "%s%s %s", sep, substr($1, 9), $3; sep=", "}')

rps() { awk '$1=="Requests/sec:" {print $2}' "$WORK/wrk-$1.txt"; }
pct() { awk -v p="$2" '$1==p {print $2}' "$WORK/wrk-$1.txt"; }
lua() { awk -F= -v k="lua.$2" '$1==k {print $2}' "$WORK/wrk-$1.txt"; }
# hist RUN SERIES: p50 / p99 of the athmd histogram SERIES (family{labels})
# over that run, interpolated within a bucket as histogram_quantile does.
hist() {
  python3 - "$WORK/metrics-$1.before" "$WORK/metrics-$1.after" "$2" <<'PY'
import sys
def load(path, series):
    family, labels = series.rstrip("}").split("{", 1)
    prefix = family + "_bucket{" + labels + ',le="'
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith(prefix):
            le = line[len(prefix):].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out
before, after = load(sys.argv[1], sys.argv[3]), load(sys.argv[2], sys.argv[3])
les = sorted(after)
cum = [after[le] - before.get(le, 0.0) for le in les]
def quantile(q):
    rank, lo, below = q * cum[-1], 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - below) / (c - below) if c > below else 1.0)
        lo, below = le, c
print("%.2f / %.2f ms" % (quantile(0.5) * 1e3, quantile(0.99) * 1e3) if les and cum[-1] else "-")
PY
}
row() {
  echo "| $2 | $3 | $(rps "$1") | $(pct "$1" 50%) | $(pct "$1" 99%) | $(lua "$1" status_200) | $(lua "$1" status_409) | $(lua "$1" status_other) | $(hist "$1" 'athmd_request_duration_seconds{endpoint="redeem"}') | $(hist "$1" 'athmd_store_duration_seconds{outcome="fresh"}') |"
}
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
cat <<MD
### Run of $(date -u +%Y-%m-%dT%H:%M:%SZ)

- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr); load average (1, 5, 15 min) before the wrk runs: $LOAD_BEFORE, after: $LOAD_AFTER.
- Commit: $COMMIT. Build: Release, \`$BUILD_DIR\`.
- Command: \`tests/integration/fleet/bench.sh --duration $DURATION --threads $THREADS --connections $CONNS\`
- wrk: \`wrk -t$THREADS -c$CONNS -d${DURATION}s --latency -s tests/bench/load/redeem.lua\`, distinct minted tokens, on the same machine.
- One athmd per store (2 I/O threads); Redis 7 with appendonly yes, appendfsync always; nginx $(nginx -v 2>&1 | sed 's|.*/||') with deploy/compose/nginx.conf adapted to loopback (all upstream slots on that replica).

| store | path | requests/s | p50 | p99 | 200 | 409 | other | in athmd p50 / p99 | store (fresh) p50 / p99 |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
$(row lmdb-direct LMDB direct)
$(row lmdb-nginx LMDB "through nginx")
$(row redis-direct Redis direct)
$(row redis-nginx Redis "through nginx")

p50 and p99 are wrk's (client side, on the same CPUs). "in athmd" is
\`athmd_request_duration_seconds{endpoint="redeem"}\` and "store" is
\`athmd_store_duration_seconds{outcome="fresh"}\`, from athmd's /metrics before
and after each run, interpolated within histogram buckets. Redis commands
during the two Redis runs (\`INFO commandstats\`): ${REDIS_CMDS:-none}.
MD
