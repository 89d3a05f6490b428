#!/usr/bin/env bash
# Installs every Debian 12 package athmd needs to build, run and test.
# Idempotent; run as root. Nothing is fetched from outside Debian's archive.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ca-certificates
  android-libboringssl-dev        # libcrypto/libssl (BoringSSL)
  libboost-dev libboost-system-dev # Beast, Asio
  libspdlog-dev libfmt-dev
  libyaml-cpp-dev
  nlohmann-json3-dev               # directory JSON (server and client)
  libcli11-dev                     # command-line parsing
  liblmdb-dev                      # embedded spent-token store
  libhiredis-dev redis-server      # shared spent-token store (fleet)
  catch2 libbenchmark-dev
  curl wrk python3
  clang libclang-rt-14-dev llvm    # sanitizer and libFuzzer builds (test.sh, fuzz.sh): clang 14,
                                   # its sanitizer/libFuzzer runtimes, llvm-symbolizer for reports
  python3-yaml openssl nginx       # deploy/ validation: YAML, test certificates, nginx -t
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# redis-server's package starts a system instance; tests start their own on loopback.
