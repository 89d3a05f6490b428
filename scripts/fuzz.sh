#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang 14, ASan + UBSan) and runs
# each one for a bounded time.
#
#   scripts/fuzz.sh smoke                 every target for 25 s (CI)
#   scripts/fuzz.sh long [seconds]        every target for <seconds> (default 3600)
#   scripts/fuzz.sh run <target> <seconds>  one target, as in long mode
#   scripts/fuzz.sh build                 configure and build only
#   scripts/fuzz.sh seeds                 regenerate tests/fuzz/corpus/ (fuzz_make_corpus)
#
# Targets run one after the other (the machines have 2 cores). Each run
# starts from the committed seeds in tests/fuzz/corpus/<target>/, which are
# only read. New corpus entries go to a temporary directory (smoke) or to
# <build>/fuzz-corpus/<target>/ (long, run: kept between runs); nothing is
# written into the source tree except by "seeds". Crash reproducers are saved
# under <build>/fuzz-artifacts/<target>/ and their paths printed; reproduce one
# with <build>/tests/fuzz/<target> <file>. libFuzzer's output goes to
# <build>/fuzz-logs/<target>.log (long, run) or <target>.smoke.log (smoke).
#
# Prints, per target, the executions, exec/s and the verdict. Exits non-zero
# if any target crashed, leaked, timed out or failed to run.
#
# The build tree is the one of scripts/test.sh's asan stage (build-asan:
# clang, ASan + UBSan, the whole project and its tests with the fuzzers);
# this script configures it.
#
# Environment: ATHM_FUZZ_BUILD_DIR (default build-asan), ATHM_FUZZ_JOBS
# (build parallelism, default 2), ATHM_FUZZ_TARGETS (space-separated subset),
# ATHM_FUZZ_SMOKE_SECONDS (default 25), ATHM_FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-fork=1 -ignore_ooms=1"), ATHM_FUZZ_NO_BUILD=1 (run what is
# already built, e.g. while another run of this script is going).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

build=${ATHM_FUZZ_BUILD_DIR:-build-asan}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
jobs=${ATHM_FUZZ_JOBS:-2}
seeds_dir="$root/tests/fuzz/corpus"
dict_dir="$root/tests/fuzz/dict"

usage() {
  sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

die() {
  echo "fuzz.sh: $*" >&2
  exit 2
}

configure() {
  command -v clang++ >/dev/null || die "clang++ not found; run scripts/install-deps.sh"
  mkdir -p "$build"
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DATHM_BUILD_FUZZ=ON -DATHM_SANITIZE=address,undefined -DATHM_BUILD_BENCH=OFF \
    >"$build/fuzz-configure.log" 2>&1 ||
    { cat "$build/fuzz-configure.log" >&2; die "cmake configure failed"; }
}

configure_and_build() {
  if [ "${ATHM_FUZZ_NO_BUILD:-0}" = 1 ]; then
    return
  fi
  configure
  cmake --build "$build" --target athm_fuzzers -j"$jobs" || die "build failed"
}

targets() {
  local list="$build/tests/fuzz/fuzz_targets.txt"
  [ -f "$list" ] || die "no $list (configure failed?)"
  if [ -n "${ATHM_FUZZ_TARGETS:-}" ]; then
    echo "$ATHM_FUZZ_TARGETS" | tr ' ' '\n' | sed '/^$/d'
  else
    sed '/^$/d' "$list"
  fi
}

# run_target <target> <seconds> <corpus dir> <log name>: runs one target,
# appends a line to $summary, returns non-zero on any failure.
run_target() {
  local t=$1 secs=$2 corpus=$3
  local bin="$build/tests/fuzz/$t"
  local artifacts="$build/fuzz-artifacts/$t"
  local log="$build/fuzz-logs/$4"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  [ -x "$bin" ] || { printf '%-28s %12s %10s  %s\n' "$t" - - "MISSING BINARY" >>"$summary"; return 1; }

  # Memory: no input may make a target ask for 256 MiB at once
  # (-malloc_limit_mb, reported with the allocation's stack) or grow past
  # 2 GiB (ASan's hard_rss_limit_mb). libFuzzer's own RSS limit is off: its
  # report profiles the whole heap first, which takes far too long under ASan.
  local args=(-max_total_time="$secs" -print_final_stats=1 -timeout=60
              -rss_limit_mb=0 -malloc_limit_mb=256
              -artifact_prefix="$artifacts/" -close_fd_mask=1)
  [ -f "$dict_dir/$t.dict" ] && args+=(-dict="$dict_dir/$t.dict")
  # shellcheck disable=SC2206 # word splitting of the extra flags is wanted
  args+=(${ATHM_FUZZ_ARGS:-})
  local inputs=("$corpus")
  [ -d "$seeds_dir/$t" ] && inputs+=("$seeds_dir/$t")

  local before
  before=$(ls "$artifacts" | wc -l)
  echo "--- $t: ${secs}s ($log)"
  # Watchdog: libFuzzer stops itself after max_total_time plus at most one
  # input's -timeout; anything longer (a hang while reporting) is killed.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:hard_rss_limit_mb=2048:abort_on_error=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    timeout -s KILL $((secs + 180)) "$bin" "${args[@]}" "${inputs[@]}" >"$log" 2>&1
  local rc=$?

  local execs rate verdict
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
  if [ -z "$execs" ]; then
    # A crash skips the final stats: take the last status line instead.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  if [ $rc -eq 0 ]; then
    verdict="ok"
  else
    local new=""
    [ "$(ls "$artifacts" | wc -l)" -gt "$before" ] && new="$artifacts/$(ls -t "$artifacts" | head -1)"
    verdict="CRASH (exit $rc)${new:+ reproducer: $new}"
    [ $rc -eq 137 ] && verdict="KILLED by the watchdog (hang or OOM report stuck)"
    grep -m3 -E 'ERROR: |runtime error|SUMMARY|rss limit' "$log" | sed 's/^/    /'
  fi
  printf '%-28s %12s %10s  %s\n' "$t" "${execs:--}" "${rate:--}" "$verdict" | tee -a "$summary"
  [ $rc -eq 0 ]
}

run_all() {
  local secs=$1 keep=$2
  local failed=0
  summary=$(mktemp)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "$summary"' EXIT
  printf '%-28s %12s %10s  %s\n' target executions exec/s result >"$summary"
  for t in $(targets); do
    # Smoke runs log apart, so one run during a long run of the same
    # target does not overwrite the long run's log.
    local corpus="$tmp/$t" log="$t.smoke.log"
    [ "$keep" = yes ] && corpus="$build/fuzz-corpus/$t" log="$t.log"
    run_target "$t" "$secs" "$corpus" "$log" || failed=1
  done
  echo
  echo "== fuzz summary (${secs}s per target, ASan+UBSan)"
  cat "$summary"
  return $failed
}

mode=${1:-}
case "$mode" in
  smoke)
    configure_and_build
    run_all "${ATHM_FUZZ_SMOKE_SECONDS:-25}" no
    ;;
  long)
    secs=${2:-3600}
    configure_and_build
    run_all "$secs" yes
    ;;
  run)
    [ $# -eq 3 ] || usage
    configure_and_build
    ATHM_FUZZ_TARGETS=$2 run_all "$3" yes
    ;;
  build)
    configure_and_build
    ;;
  seeds)
    configure
    cmake --build "$build" --target fuzz_make_corpus -j"$jobs" || die "build failed"
    out=$(mktemp -d)
    "$build/tests/fuzz/fuzz_make_corpus" "$out" || die "fuzz_make_corpus failed"
    for d in "$out"/*/; do
      t=$(basename "$d")
      rm -rf "${seeds_dir:?}/$t"
      mkdir -p "$seeds_dir/$t"
      cp "$d"* "$seeds_dir/$t/"
    done
    rm -rf "$out"
    du -sh --apparent-size "$seeds_dir"
    ;;
  *)
    usage
    ;;
esac
