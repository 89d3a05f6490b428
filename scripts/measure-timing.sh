#!/usr/bin/env bash
# Engine-level timing-leak measurement (dudect-style Welch's t between bucket 0
# and bucket n-1). Not a pass/fail test: it prints statistics for docs/security.md.
#   scripts/measure-timing.sh [response_samples] [verify_samples]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tests/timing/athm_dudect ] || bash scripts/build.sh
build/tests/timing/athm_dudect --op response --samples "${1:-60000}"
build/tests/timing/athm_dudect --op verify --samples "${2:-300000}"
