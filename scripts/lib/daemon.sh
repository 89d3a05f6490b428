# Shared by the measurement scripts (loadtest.sh, redeem-ab.sh, isolation.sh,
# soak.sh, timing-e2e.sh): loopback ports, the benchmark config, starting
# athmd and waiting for readiness, stopping it, counting and checking a CPU
# list, checking tools, reading wrk reports.
# Source it; it defines functions only. Callers use `set -euo pipefail`.

# A loopback port nobody listens on (checked with a connect attempt), below
# the kernel's ephemeral range so that no client socket holds it.
free_port() {
  local p
  while true; do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# pick_ports: sets PUB_PORT and INT_PORT to two different free ports.
pick_ports() {
  PUB_PORT=$(free_port)
  INT_PORT=$(free_port)
  while [[ $INT_PORT == "$PUB_PORT" ]]; do INT_PORT=$(free_port); done
}

# wait_ready NAME PID URL LOG [TIMEOUT_S [CURL_ARG...]]: polls URL (curl with
# CURL_ARGs, e.g. --cacert FILE) until it answers 2xx.
# Exits 2 with the log's tail if PID dies or TIMEOUT_S (default 30) passes.
wait_ready() {
  local name=$1 pid=$2 url=$3 log=$4 timeout=${5:-30}
  shift $(( $# < 5 ? $# : 5 ))
  local deadline=$(( SECONDS + timeout ))
  until curl -sf -o /dev/null --max-time 2 "$@" "$url"; do
    if ! kill -0 "$pid" 2>/dev/null || (( SECONDS >= deadline )); then
      echo "$name: athmd did not become ready; log:" >&2
      tail -n 40 "$log" >&2
      exit 2
    fi
    sleep 0.2
  done
}

# stop_pid PID [TENTHS]: SIGTERM, wait up to TENTHS tenths of a second
# (default 100), then SIGKILL. Quiet if PID is empty or already gone.
stop_pid() {
  local pid=$1 tenths=${2:-100}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bench_config FILE KEY_DIR STORE_YAML THREADS: the measurement daemon's
# config on PUB_PORT and INT_PORT (pick_ports first): STORE_YAML as the
# store, the header attester trusted from loopback (default bucket 0), text
# logs with the buffered access log on, THREADS I/O threads.
bench_config() {
  cat >"$1" <<YAML
listeners:
  public: {address: 127.0.0.1, port: $PUB_PORT}
  internal: {address: 127.0.0.1, port: $INT_PORT}
issuer: {request_uri: "http://127.0.0.1:$PUB_PORT/request"}
keys: {directory: "$2", reload_interval_s: 0}
store: $3
attester:
  type: header
  header: {name: X-Athm-Bucket, trusted_cidrs: [127.0.0.0/8], default_bucket: 0}
logging: {level: info, format: text, access_log: true}
server: {io_threads: $4}
YAML
}

# Number of CPUs in a taskset list such as "0", "0,2" or "0-3".
count_cpus() {
  local n=0 part
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then n=$(( n + ${part#*-} - ${part%-*} + 1 )); else n=$(( n + 1 )); fi
  done
  echo "$n"
}

# require_tools NAME TOOL...: exits 2, as NAME, if a TOOL is not installed.
require_tools() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is not installed" >&2; exit 2; }
  done
}

# check_cpus NAME OPTION LIST: exits 2, as NAME, unless taskset accepts LIST.
check_cpus() {
  taskset -c "$3" true 2>/dev/null || { echo "$1: bad $2 $3" >&2; exit 2; }
}

# Fields of a `wrk --latency` report run with tests/bench/load's Lua scripts:
# requests per second, a latency percentile ("50%", "99%"), a Lua counter
# ("status_200", ...).
wrk_rps() { awk '$1=="Requests/sec:" {print $2}' "$1"; }
wrk_pct() { awk -v p="$2" '$1==p {print $2}' "$1"; }
wrk_lua() { awk -F= -v k="lua.$2" '$1==k {print $2}' "$1"; }
