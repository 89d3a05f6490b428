#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite. This is
# the CI job (.ci/run) and the README's test command. It runs three stages,
# each in its own build directory:
#
#   gcc   build/       gcc, RelWithDebInfo: every ctest test
#   asan  build-asan/  clang 14, ASan + UBSan, with the libFuzzer targets:
#                      every ctest test, then every fuzz target for a short,
#                      bounded time (scripts/fuzz.sh smoke)
#   tsan  build-tsan/  clang 14, TSan, only the targets its tests need: the
#                      tests labelled "server" and the integration tests that
#                      drive the daemon from several threads (see tsan_tests)
#
#   scripts/test.sh                      every stage (CI)
#   scripts/test.sh --stage asan         one stage; repeat --stage for more
#   scripts/test.sh --no-deps            skip scripts/install-deps.sh
#
# Tests that need a server (the daemon, Redis, nginx) start and stop it
# themselves, on loopback only. The sanitizer runtime options of the tests
# are set by tests/CMakeLists.txt, those of the fuzzers by scripts/fuzz.sh.
# A failed stage does not stop the next one; the script prints each stage's
# wall time and result and exits non-zero if any stage failed.
#
# Environment: ATHM_TEST_JOBS (build and ctest parallelism, default: the
# number of cores).
# shellcheck disable=SC2317 # the stage_* functions are called as "stage_$s"
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
jobs=${ATHM_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Integration tests run under TSan besides the "server" label: every one
# whose athmd serves requests, since the daemon always runs several I/O
# threads (two here) with shared state: the key store swapped by reloads,
# the spent-token stores (LMDB; Redis through hiredis in the fleet), the
# metrics, the access log. Some drive it from many client threads at once
# (replay, persistence, badinput, fleet). Left out: integration_config_test,
# which only runs "athmd --check-config" (no server, no threads).
tsan_tests=(
  integration_roundtrip_test     # every route, each bucket
  integration_replay_test        # concurrent redemptions of one token and of many
  integration_persistence_test   # a redemption storm, kill -9, LMDB reopened
  integration_rotation_test      # SIGHUP key reload while serving
  integration_badinput_test      # a valid-traffic thread during the barrage
  integration_fleet_test         # three replicas on Redis behind nginx, replay storm
  integration_forward_auth_test  # /auth
  integration_malformed_test     # bad requests on shared keep-alive connections
  integration_cli_test           # the athm client against the daemon
  integration_https_test         # the public listener over TLS
)

usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

stages=()
deps=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --stage)
      [ $# -ge 2 ] || usage
      case "$2" in gcc | asan | tsan) stages+=("$2") ;; *) usage ;; esac
      shift 2
      ;;
    --no-deps) deps=no; shift ;;
    *) usage ;;
  esac
done
[ ${#stages[@]} -gt 0 ] || stages=(gcc asan tsan)

# ctest with the project's settings; the tests' own TIMEOUT properties apply
# (scaled in sanitizer trees by tests/CMakeLists.txt).
run_ctest() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900 "$@"
}

stage_gcc() {
  bash scripts/build.sh &&
    run_ctest build
}

stage_asan() {
  # scripts/fuzz.sh owns the configuration of this tree (clang, ASan+UBSan,
  # -DATHM_BUILD_FUZZ=ON); its "build" mode configures and builds the
  # fuzzers, the rest of the tree is built next. The fuzzers run even when
  # a test failed: both verdicts are wanted.
  ATHM_FUZZ_BUILD_DIR=build-asan ATHM_FUZZ_JOBS=$jobs bash scripts/fuzz.sh build &&
    cmake --build build-asan -j"$jobs" || return 1
  local rc=0
  run_ctest build-asan || rc=1
  ATHM_FUZZ_BUILD_DIR=build-asan ATHM_FUZZ_NO_BUILD=1 bash scripts/fuzz.sh smoke || rc=1
  return "$rc"
}

stage_tsan() {
  CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DATHM_SANITIZE=thread -DATHM_BUILD_BENCH=OFF || return 1
  # The test executables are the targets of the same name.
  local tests
  mapfile -t tests < <(ctest --test-dir build-tsan -N -L '^server$' | awk '/Test +#/ {print $3}')
  tests+=("${tsan_tests[@]}")
  [ ${#tests[@]} -gt "${#tsan_tests[@]}" ] || { echo "test.sh: no server tests in build-tsan" >&2; return 1; }
  local regex
  regex="^($(IFS='|'; echo "${tests[*]}"))\$"
  cmake --build build-tsan -j"$jobs" --target "${tests[@]}" &&
    run_ctest build-tsan -R "$regex"
}

stage_deps() {
  bash scripts/install-deps.sh
}

[ "$deps" = yes ] && stages=(deps "${stages[@]}")
summary=()
failed=0
total_start=$(date +%s)
for s in "${stages[@]}"; do
  echo "=== stage $s: start $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s)
  if "stage_$s"; then
    result=ok
  else
    result=FAILED
    failed=1
    [ "$s" = deps ] && break  # nothing builds without them
  fi
  secs=$(($(date +%s) - start))
  line=$(printf '%-5s %-7s %3d min %02d s  (load %s at the end)' "$s" "$result" $((secs / 60)) \
    $((secs % 60)) "$(cut -d' ' -f1-3 /proc/loadavg)")
  echo "=== stage $line"
  summary+=("$line")
done
secs=$(($(date +%s) - total_start))
echo
echo "== test.sh summary (root $root)"
printf '%s\n' "${summary[@]}"
printf 'total %d min %02d s\n' $((secs / 60)) $((secs % 60))
exit $failed
