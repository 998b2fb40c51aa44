#!/usr/bin/env bash
# Installs every Debian 12 package nim-scaler needs to build, test and run its demo.
# The lists live in scripts/deps/*.txt (one package per line; each part of the project owns
# its own file). Idempotent: packages already present are skipped, so a second run costs
# one dpkg query.
# Usage: scripts/install-deps.sh [--runtime]   (--runtime: only the shared libraries the binary needs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

runtime_pkgs=(libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libspdlog1.10 libcivetweb1 libcurl4 libyaml-cpp0.7 ca-certificates)

if [[ "${1:-}" == "--runtime" ]]; then
  pkgs=("${runtime_pkgs[@]}")
else
  mapfile -t pkgs < <(cat "$here"/deps/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
fi

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
