#!/usr/bin/python3
"""Issue 15 item 3 (the docs/ pages and the README that links them): every relative link in
README.md, docs/*.md and the chart README (deploy/helm/nim-scaler/README.md) must resolve.

For each markdown link or image, `[text](target)` or a reference definition `[id]: target`,
outside fenced code blocks and inline code spans, whose target is not a URL (http:, https:,
mailto:):
  - the path, relative to the linking file, must name a file or directory of the tree;
  - a `#anchor` (alone: this file; after a .md path: that file) must be the anchor of a heading of
    the target, computed as GitHub computes it (lower case, punctuation other than `-` and `_`
    dropped, spaces to `-`, a repeated heading gets `-1`, `-2`, ...).

Usage: check_doc_links.py [SOURCE_DIR]   (default: two levels above this file)
       check_doc_links.py --self-test    (made-up trees: shows the check can fail)
Exit 0 when every link resolves, 1 with one line per broken link otherwise.
"""
import glob
import os
import re
import sys
from doc_check_common import run_self_test

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)


def prose_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fenced = False
    for no, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield no, line


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path, cache):
    if path not in cache:
        seen = {}
        out = set()
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for _, line in prose_lines(text):
            for a in HTML_ANCHOR.findall(line):
                out.add(a)
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else "%s-%d" % (base, n))
        cache[path] = out
    return cache[path]


def links(text):
    for no, line in prose_lines(text):
        m = REF_DEF.match(line)
        if m:
            yield no, m.group(1)
            continue
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            yield no, m.group(1)


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    docs = ([os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
            + [os.path.join(root, "deploy", "helm", "nim-scaler", "README.md")])
    docs = [d for d in docs if os.path.isfile(d)]
    cache = {}
    problems, checked = [], 0
    for doc in docs:
        rel_doc = os.path.relpath(doc, root)
        with open(doc, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for no, target in links(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # a URL (http:, https:, mailto:)
            checked += 1
            where = "%s:%d: %s" % (rel_doc, no, target)
            path, _, anchor = target.partition("#")
            dest = doc if not path else os.path.normpath(os.path.join(os.path.dirname(doc), path))
            rel_dest = os.path.relpath(dest, root)
            if rel_dest.startswith(".."):
                problems.append("%s: points outside the repository" % where)
                continue
            if not os.path.exists(dest):
                problems.append("%s: %s does not exist" % (where, rel_dest))
                continue
            if not anchor:
                continue
            if not dest.endswith(".md") or os.path.isdir(dest):
                problems.append("%s: an anchor into %s, which is not a markdown file" % (where, rel_dest))
                continue
            if anchor not in anchors(dest, cache):
                problems.append("%s: %s has no heading with the anchor #%s" % (where, rel_dest, anchor))
    for line in problems:
        print(line)
    if problems:
        print("%d broken link(s) in README.md, docs/*.md and the chart README" % len(problems))
        return 1
    print("ok: %d relative links in %d files resolve" % (checked, len(docs)))
    return 0


def self_test():
    """The check must be able to fail: run it on made-up trees."""
    cases = [  # (files, expected exit code)
        ({"README.md": "[a](docs/a.md)\n", "docs/a.md": "# A\n"}, 0),
        ({"README.md": "[a](docs/missing.md)\n"}, 1),
        ({"README.md": "[a](docs/a.md#what-keda-gets-and-when)\n",
          "docs/a.md": "# A\n## What KEDA gets, and when\n"}, 0),
        ({"README.md": "[a](docs/a.md#nowhere)\n", "docs/a.md": "# A\n## Somewhere\n"}, 1),
        ({"docs/a.md": "# A\n## See it: `make demo`\n[x](#see-it-make-demo) [y](#a)\n"}, 0),
        ({"docs/a.md": "# A\n[x](#b)\n"}, 1),
        ({"docs/a.md": "# A\n## B\n## B\n[x](#b-1)\n"}, 0),
        ({"docs/a.md": "```\n[x](nowhere.md)\n```\n`[y](nowhere.md)` [z](https://example.com/x.md)\n"}, 0),
        ({"docs/a.md": "[x](../README.md) [y](../keda)\n", "README.md": "# R\n", "keda/x.yaml": ""}, 0),
        ({"docs/a.md": "[x]: ../nowhere.md\n"}, 1),
        ({"docs/a.md": "[x](../../outside.md)\n"}, 1),
        ({"README.md": "[q](deploy/quickstart/README.md#nope)\n", "deploy/quickstart/README.md": "# Q\n"}, 1),
    ]
    return run_self_test(main, cases)


if __name__ == "__main__":
    sys.exit(self_test() if sys.argv[1:] == ["--self-test"] else main(sys.argv))
