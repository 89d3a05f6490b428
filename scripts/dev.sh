#!/usr/bin/env bash
# Installs the dependencies, builds, and runs athmd in development mode on
# 127.0.0.1:8080 (public) and 127.0.0.1:8081 (internal), with a dev key and
# the embedded LMDB store under ./athmd-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec build/server/athmd --dev --listen 127.0.0.1:8080 --internal-listen 127.0.0.1:8081 --state-dir ./athmd-dev
