#!/usr/bin/env bash
# Regenerates the "## Parameters" tables of the chart README (deploy/helm/nim-scaler/README.md)
# from the `## @section` / `## @param` comments of deploy/helm/nim-scaler/values.yaml, with the npm
# package @bitnami/readme-generator-for-helm (installed by scripts/install-readme-generator.sh).
# The generator also fails when a value has no @param comment or a comment names no value. Its
# CRLF line ends are turned into LF.
#
# Usage: scripts/gen-chart-readme.sh [--chart DIR]           rewrite the chart README in place
#        scripts/gen-chart-readme.sh --check [--chart DIR]   regenerate a temporary copy and exit 1
#                          (with the diff) when the README differs; the tree is not touched
#                          (tests/deploy/check.sh runs this, and on altered copies of the chart)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHART="$ROOT/deploy/helm/nim-scaler"
mode=write
while (($#)); do
  case "$1" in
    --check) mode=--check; shift ;;
    --chart) CHART="$2"; shift 2 ;;
    *) echo "usage: $0 [--check] [--chart DIR]" >&2; exit 2 ;;
  esac
done

gen="$("$ROOT/scripts/install-readme-generator.sh" | tail -1)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nimscaler-chart-readme.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$CHART/README.md" "$work/README.md"
if ! node "$gen" --values "$CHART/values.yaml" --readme "$work/README.md" >"$work/log" 2>&1; then
  grep -E 'ERROR|Error' "$work/log" >&2 || cat "$work/log" >&2
  echo "gen-chart-readme: the generator failed on $CHART/values.yaml" >&2
  exit 1
fi
sed -i 's/\r$//' "$work/README.md"

if [[ $mode == --check ]]; then
  if ! diff -u "$CHART/README.md" "$work/README.md" >"$work/diff"; then
    head -60 "$work/diff" >&2
    echo "gen-chart-readme: $CHART/README.md is out of step with values.yaml; run scripts/gen-chart-readme.sh" >&2
    exit 1
  fi
  echo "ok: $CHART/README.md is in step with values.yaml"
else
  cp "$work/README.md" "$CHART/README.md"
  echo "$CHART/README.md regenerated"
fi
