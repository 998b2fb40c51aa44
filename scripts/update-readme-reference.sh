#!/usr/bin/env bash
# Regenerates README.md's metadata table from the binary (`nim-scaler check --reference`).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/scaler/nim-scaler}"
"$bin" check --reference > /tmp/nim-scaler-reference.md
/usr/bin/python3 - <<'PY'
import re
readme = open("README.md").read()
ref = open("/tmp/nim-scaler-reference.md").read()
start = readme.index("<!-- metadata-reference")
start = readme.index("\n", start) + 1
end = readme.index("<!-- end metadata-reference -->")
open("README.md", "w").write(readme[:start] + ref + readme[end:])
PY
echo "README.md metadata reference updated"
