#!/usr/bin/env bash
# Whether this machine's CPUs run the same work at the same speed over time.
# On each CPU (one pinned process each) a fixed unit of arithmetic, about
# 1 ms long, is repeated for SECONDS; each unit's thread CPU time is
# recorded. On a steady machine the CPU time of a unit barely varies; on a
# virtual machine whose host contends for the physical cores, units run
# slower in episodes while the guest still sees its vCPU running and no
# steal time. Prints per CPU the median, p99 and max of a unit's CPU time and
# the share of 100 ms windows whose mean is over 1.25 x the median. Nothing
# else should run meanwhile.
#
#   scripts/cpu-steadiness.sh [--seconds S] [--cpus LIST]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/daemon.sh
. "$ROOT/scripts/lib/daemon.sh"
SECONDS_=30
CPUS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
done
require_tools cpu-steadiness taskset python3
if [[ -z $CPUS ]]; then CPUS=$(seq -s, 0 $(( $(nproc) - 1 ))); fi
check_cpus cpu-steadiness --cpus "$CPUS"

PROBE=$(cat <<'EOF'
import sys, time
seconds = float(sys.argv[1])
def unit():
    x = 1.0
    for _ in range(20000):
        x = x * 1.0000001 + 1.0
    return x
for _ in range(200):  # warm up
    unit()
cpu_ms = []
wall_end = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    c0 = time.thread_time()
    unit()
    cpu_ms.append((time.thread_time() - c0) * 1000.0)
    wall_end.append(time.monotonic())
s = sorted(cpu_ms)
med = s[len(s) // 2]
windows = {}
for c, t in zip(cpu_ms, wall_end):
    windows.setdefault(int(t * 10), []).append(c)
means = [sum(v) / len(v) for v in windows.values() if v]
slow = sum(1 for m in means if m > 1.25 * med)
worst = max(means) / med
print(f"{len(s)} units: CPU time per unit p50 {med:.3f} ms, p99 {s[int(len(s) * 0.99)]:.3f} ms, "
      f"max {s[-1]:.3f} ms; 100 ms windows with a mean over 1.25 x p50: {slow} of {len(means)} "
      f"({100.0 * slow / max(1, len(means)):.1f} %), slowest window {worst:.2f} x p50")
EOF
)

IFS=, read -r -a cpu_list <<<"$CPUS"
pids=()
for c in "${cpu_list[@]}"; do
  taskset -c "$c" python3 -c "$PROBE" "$SECONDS_" >"${TMPDIR:-/tmp}/cpu-steadiness.$$.$c" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "cpu-steadiness, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -sr), ${SECONDS_} s:"
for c in "${cpu_list[@]}"; do
  printf '  CPU %s: %s\n' "$c" "$(cat "${TMPDIR:-/tmp}/cpu-steadiness.$$.$c")"
  rm -f "${TMPDIR:-/tmp}/cpu-steadiness.$$.$c"
done
