#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite.
# Tests that need a server (the daemon, Redis, nginx) start and stop it themselves,
# on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 900
