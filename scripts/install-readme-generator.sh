#!/usr/bin/env bash
# Installs the chart README generator (the npm package @bitnami/readme-generator-for-helm, pinned
# with its dependencies by scripts/deps/readme-generator/package-lock.json; npm checks every
# tarball against the lock's integrity hash) into a cache directory outside the work tree, the way
# scripts/install-helm.sh installs helm. Package scripts are never run (--ignore-scripts).
#
# Usage: scripts/install-readme-generator.sh
#   Prints the generator's executable on its last line. Re-runs are cheap: the install is kept
#   while the lock file is unchanged.
# Env:   NIM_SCALER_TOOLS_DIR (default: $HOME/.cache/nim-scaler/tools)
# Needs: npm and node 18 or newer (Debian 12: nodejs, npm).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
TOOLS_DIR="${NIM_SCALER_TOOLS_DIR:-${HOME:-/root}/.cache/nim-scaler/tools}"
src="$here/deps/readme-generator"
dest="$TOOLS_DIR/readme-generator"
bin="$dest/node_modules/@bitnami/readme-generator-for-helm/bin/index.js"

log() { echo "install-readme-generator: $*" >&2; }
command -v npm >/dev/null 2>&1 || { log "missing command 'npm' (apt-get install npm)"; exit 1; }
command -v node >/dev/null 2>&1 || { log "missing command 'node' (apt-get install nodejs)"; exit 1; }

stamp="$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$dest/.complete" && "$(cat "$dest/.complete")" == "$stamp" && -f "$bin" ]]; then
  echo "$bin"
  exit 0
fi

log "installing @bitnami/readme-generator-for-helm from $src/package-lock.json"
mkdir -p "$TOOLS_DIR"
# Install into a fresh directory, then swap it in, so a check running at the same time never sees
# a half-installed generator.
tmp="$(mktemp -d "$TOOLS_DIR/readme-generator.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp "$src/package.json" "$src/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
echo "$stamp" > "$tmp/.complete"
old="$dest.old.$$"
[[ -d "$dest" ]] && mv "$dest" "$old"
mv "$tmp" "$dest"
rm -rf "$old"
trap - EXIT
node "$bin" --version >&2
echo "$bin"
