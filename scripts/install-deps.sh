#!/usr/bin/env bash
# Installs every Debian 12 package nim-scaler needs to build, test and run its demo.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
# Usage: scripts/install-deps.sh [--runtime]   (--runtime: only the shared libraries the binary needs)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev libcivetweb-dev libspdlog-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libcurl4-openssl-dev
  python3 python3-grpcio python3-grpc-tools python3-prometheus-client
)
runtime_pkgs=(libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libspdlog1.10 libcivetweb1 libcurl4 ca-certificates)

pkgs=("${build_pkgs[@]}")
[[ "${1:-}" == "--runtime" ]] && pkgs=("${runtime_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
