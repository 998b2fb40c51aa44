#!/usr/bin/env bash
# Checks that every C++ source of the tree is formatted as .clang-format says (issue 17: the
# style applied once, and kept). Prints the files that are not, with the command that fixes them.
# Usage: scripts/check-format.sh [--fix]     (--fix rewrites them in place)
# Needs clang-format (Debian package clang-format; make deps installs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cf=""
for c in clang-format clang-format-14; do
  if command -v "$c" >/dev/null; then cf="$c"; break; fi
done
[[ -n "$cf" ]] || { echo "check-format: clang-format is not installed: apt-get install -y clang-format"; exit 1; }

if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files 'scaler/*.cc' 'scaler/*.h' 'tests/*.cc' 'tests/*.h' 'tools/*.cc' 'tools/*.h' \
    'bench/*.cc' 'bench/*.h')
else
  mapfile -t files < <(find scaler tests tools bench -name '*.cc' -o -name '*.h' | sort)
fi
((${#files[@]} > 0)) || { echo "check-format: no C++ source found under $root"; exit 1; }

if [[ "${1:-}" == "--fix" ]]; then
  "$cf" -i --style=file "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
# One clang-format process for the whole tree; only when it finds something, one per file to
# name them.
if ! "$cf" --style=file --dry-run --Werror "${files[@]}" >/dev/null 2>&1; then
  bad=()
  for f in "${files[@]}"; do
    "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not formatted as .clang-format says:"
  printf '  %s\n' "${bad[@]}"
  echo "fix: scripts/check-format.sh --fix   (or $cf -i --style=file FILE)"
  exit 1
fi
echo "check-format: ${#files[@]} files formatted as .clang-format says ($("$cf" --version | head -1))"
