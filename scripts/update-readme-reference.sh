#!/usr/bin/env bash
# Regenerates the metadata table of docs/trigger-reference.md from the binary
# (`nim-scaler check --reference`): the lines between `<!-- metadata-reference` and
# `<!-- end metadata-reference -->`. The test Readme.MetadataReferenceMatchesTheBinary
# (tests/integration/serve_test.cc) fails while the two differ.
# Usage: scripts/update-readme-reference.sh [BINARY]   (default build/scaler/nim-scaler)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/scaler/nim-scaler}"
doc="docs/trigger-reference.md"
ref="$(mktemp)"
trap 'rm -f "$ref"' EXIT
"$bin" check --reference > "$ref"
/usr/bin/python3 - "$doc" "$ref" <<'PY'
import sys
doc_path, ref_path = sys.argv[1], sys.argv[2]
doc = open(doc_path).read()
ref = open(ref_path).read()
start = doc.index("<!-- metadata-reference")
start = doc.index("\n", start) + 1
end = doc.index("<!-- end metadata-reference -->")
open(doc_path, "w").write(doc[:start] + ref + doc[end:])
PY
echo "$doc metadata reference updated"
