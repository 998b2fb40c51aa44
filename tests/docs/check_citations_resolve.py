#!/usr/bin/python3
"""Issue 15 item 3 (README.md split into docs/ pages): every citation of a document in code,
tests, scripts, YAML and the other non-markdown files must name a file of the repository and,
when it quotes a section, a heading of that file.

A citation is:
  * a document name followed by a quoted section: `README.md "X"`, `README "X"`,
    `README, "X"`, `docs/<page>.md "X"`, `<dir>/.../<name>.md "X"` (quotes may be escaped, as
    inside a C++ string), optionally continued by `, "Y"` or `and "Y"` (more sections of the
    same file). `README` alone means the top-level README.md. The file must exist (paths are
    relative to the repository root) and every quoted section must be the text of one of its
    headings (`#` to `######`, outside fenced code), compared case-sensitively, with or without
    the heading's backquotes;
  * a path `docs/<page>.md`, or a path `<dir>/.../<name>.md` whose first directory is a
    top-level directory of the repository: the file must exist.

Files scanned: what git lists (tracked, plus new files it does not ignore; a walk of the tree
without a git checkout), except markdown (check_doc_links.py covers links between documents),
fuzzer corpora, binaries, and the SKIPPED_FILES below (each with its reason, counted in the
output). Citations known to be stale in files that someone else is editing are listed in
ALLOWED_STALE (file, citation) with the reason; each is printed as a note, never hidden.

Usage: check_citations_resolve.py [SOURCE_DIR]   (default: two levels above this file)
       check_citations_resolve.py --self-test    (made-up trees: shows the check can fail)
Exit 0 when every citation resolves, 1 with one line per broken citation otherwise.
"""
import os
import re
import sys
from doc_check_common import repo_files, run_self_test

# Files not scanned, and why. Their citations are made-up fixtures of self-tests.
SKIPPED_FILES = {
    "tests/docs/check_citations_resolve.py": "this check: its self-test cites made-up pages",
    "tests/docs/check_doc_links.py": "its self-test builds made-up trees with docs/a.md etc.",
    "tests/docs/check_doc_citations.py": "its self-test builds made-up trees",
}

# (file, citation as the check prints it) pairs that are stale but may not be fixed here yet.
# Reason for every entry: being edited in parallel; fix after (the owner of the file updates
# the citation; then remove the entry). A listed pair is printed as a note on every run; an
# entry that no longer matches anything is printed too, so the list can only shrink.
ALLOWED_STALE = set()  # empty: every citation resolves

SECTION = r'\\?"([^"\\\n]+)\\?"'
# A document name, then a quoted section, then optional further sections of the same document.
SECTION_CITE = re.compile(
    r'(?<![\w/.$@{-])((?:[\w.-]+/)*README(?:\.md)?|(?:[\w.-]+/)+[\w.-]+\.md)(?:,\s*|\s+)' + SECTION
    + r'((?:\s*(?:,|and)\s*' + SECTION + r')*)')
MORE_SECTIONS = re.compile(SECTION)
# A path to a markdown file, cited without a section.
PATH_CITE = re.compile(r'(?<![\w/.$@{-])((?:[\w.-]+/)+[\w.-]+\.md)(?![\w/-])')
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def headings(path, cache):
    if path not in cache:
        out = set()
        fenced = False
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                    continue
                m = None if fenced else HEADING.match(line)
                if m:
                    out.add(m.group(1))
                    out.add(m.group(1).replace("`", ""))
        cache[path] = out
    return cache[path]


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    files = repo_files(root)
    top_dirs = {f.split("/", 1)[0] for f in files if "/" in f}
    cache = {}
    problems, notes, used_allowed = [], [], set()
    scanned = cited = 0
    for rel in sorted(files):
        if rel.lower().endswith(".md") or (rel.startswith("tests/fuzz/") and "corpus/" in rel):
            continue
        if rel in SKIPPED_FILES:
            continue
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError:
            continue  # listed but absent (deleted in the work tree)
        if b"\0" in data[:8192]:
            continue  # binary
        scanned += 1
        if b".md" not in data and b"README" not in data:
            continue
        for no, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            found = []  # (citation text, file, [sections])
            spans = []
            for m in SECTION_CITE.finditer(line):
                doc = m.group(1)
                sections = [m.group(2)] + MORE_SECTIONS.findall(m.group(3) or "")
                found.append((m.group(0).strip(), doc, sections))
                spans.append(m.span(1))
            for m in PATH_CITE.finditer(line):
                if any(a <= m.start(1) < b for a, b in spans):
                    continue
                doc = m.group(1)
                if not (doc.startswith("docs/") or doc.split("/", 1)[0] in top_dirs):
                    continue  # e.g. $CHART/README.md, a path built at run time
                found.append((doc, doc, []))
            for text, doc, sections in found:
                cited += 1
                target = "README.md" if doc == "README" else (
                    doc[:-len("README")] + "README.md" if doc.endswith("/README") else doc)
                where = "%s:%d: %s" % (rel, no, text)
                path = os.path.join(root, target)
                bad = None
                if not os.path.isfile(path):
                    bad = "%s does not exist" % target
                else:
                    missing = [s for s in sections if s not in headings(path, cache)]
                    if missing:
                        bad = "%s has no heading %s" % (
                            target, ", ".join('"%s"' % s for s in missing))
                if not bad:
                    continue
                key = (rel, text.replace('\\"', '"'))
                if key in ALLOWED_STALE:
                    used_allowed.add(key)
                    notes.append("allowed (being edited in parallel; fix after) %s: %s" % (where, bad))
                else:
                    problems.append("%s: %s" % (where, bad))
    for key in sorted(ALLOWED_STALE - used_allowed):
        notes.append("allow-list entry no longer needed: %s: %s" % key)
    for line in notes + problems:
        print(line)
    if problems:
        print("%d citation(s) name a missing file or section; cite the file and heading where the "
              "text now lives (docs/*.md)" % len(problems))
        return 1
    print("ok: %d citations in %d files resolve (%d files skipped on purpose, %d allowed stale)"
          % (cited, scanned, len(SKIPPED_FILES), len(used_allowed)))
    return 0


def self_test():
    """The check must be able to fail: run it on made-up trees (no git, so it walks them)."""
    page = "# Operations\n## What KEDA gets, and when\n```\n# Not a heading\n```\n## See `make demo`\n"
    cases = [  # (files, expected exit code)
        ({"a.cc": '// docs/ops.md "What KEDA gets, and when"\n', "docs/ops.md": page}, 0),
        ({"a.cc": '// docs/ops.md "What KEDA gets"\n', "docs/ops.md": page}, 1),
        ({"a.cc": '// docs/ops.md "what KEDA gets, and when"\n', "docs/ops.md": page}, 1),
        ({"a.cc": '// docs/ops.md "Not a heading"\n', "docs/ops.md": page}, 1),
        ({"a.cc": '// docs/ops.md "See make demo" and "See `make demo`"\n', "docs/ops.md": page}, 0),
        ({"a.cc": '// docs/ops.md "Operations", "Nowhere"\n', "docs/ops.md": page}, 1),
        ({"a.h": '// README.md "What the trigger means"\n', "README.md": "# R\n## Quickstart\n"}, 1),
        ({"a.h": '// (README "HA")\n', "README.md": "# R\n## HA\n"}, 0),
        ({"k.yaml": '# (README, "Install")\n', "README.md": "# R\n"}, 1),
        ({"t.cc": 'EXPECT_TRUE(x) << "cap (docs/ops.md \\"Operations\\")";\n', "docs/ops.md": page}, 0),
        ({"t.cc": 'EXPECT_TRUE(x) << "cap (docs/ops.md \\"Limits\\")";\n', "docs/ops.md": page}, 1),
        ({"t.py": '"""See docs/missing.md."""\n'}, 1),
        ({"tools/main.cc": "// See tools/README-demo.md.\n"}, 1),
        ({"s.sh": 'cp "$CHART/README.md" x\n# see tools/x.md\n', "tools/x.md": "# X\n"}, 0),
        ({"s.sh": 'check "the chart README" show_readme "$CHART"\n', "README.md": "# R\n"}, 0),
        ({"x/y.md": '# docs/nowhere.md "Z" is not checked in markdown\n'}, 0),
    ]
    return run_self_test(main, cases)


if __name__ == "__main__":
    sys.exit(self_test() if sys.argv[1:] == ["--self-test"] else main(sys.argv))
