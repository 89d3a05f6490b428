#!/usr/bin/env bash
# Instruction counts of the engine's operations, as multiples of one
# variable-base EC_POINT_mul, under callgrind. Independent of machine load.
#   tests/bench/count_ops.sh [build-dir] [n_buckets]
set -euo pipefail
build=${1:-build}
n=${2:-4}
bin="$build/tests/bench/athm_op_count"
count=20
ir() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" "$n" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"
  rm -f "$out"
}
base=$(ir none $count)
var=$(( ($(ir varmul $count) - base) / count ))
echo "n=$n; instructions per op (callgrind, $count ops each):"
printf "%-16s %12s %8s\n" op instructions x-varmul
for op in varmul basemul response oracle_response verify oracle_verify; do
  per=$(( ($(ir $op $count) - base) / count ))
  printf "%-16s %12d %8.2f\n" "$op" "$per" "$(echo "$per / $var" | bc -l)"
done
