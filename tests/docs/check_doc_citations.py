#!/usr/bin/python3
"""Issue 15 ("No comment or doc in the repository cites a document that is not in it"): fail
when any tracked file cites a design document that the repository does not hold.

The project was written next to design notes that live outside the repository (product.md,
keda-contract.md, llm-engines.md, architecture.md, exposition-format.md, under ../shared). A
reader of a clone cannot follow a citation of them, so code comments and docs cite README.md
sections, files under docs/ or tests/, or say the fact themselves. This check lists the files
git knows (tracked, plus new ones it does not ignore; a walk of the tree without a git checkout)
and reports every line that names one of those documents, or a path into ../shared, as
file:line. A name is allowed once a file of that name is in the repository (the citation then
resolves there).

Usage: check_doc_citations.py [SOURCE_DIR]   (default: two levels above this file)
       check_doc_citations.py --self-test    (made-up trees: shows the check can fail)
Exit 0 when clean, 1 with one line per citation otherwise.
"""
import os
import re
import sys
from doc_check_common import repo_files, run_self_test

# The documents outside the repository that code used to cite.
OUTSIDE_DOCS = ("product.md", "keda-contract.md", "llm-engines.md", "architecture.md",
                "exposition-format.md")
# Any path into the shared folder beside the repository (../shared/..., /work/shared/...,
# shared/k8s-schemas/...).
SHARED_PATH = re.compile(r"(?<![\w-])shared/", re.I)


# Lines that may still cite a document (matched by file and exact stripped content); none left.
PENDING_CODE_LINES: set = set()


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    files = repo_files(root)
    present = {os.path.basename(f).lower() for f in files}
    names = [n for n in OUTSIDE_DOCS if n not in present]
    doc_re = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w])",
                        re.I) if names else None
    quick = [n.encode() for n in names] + [b"shared/"]
    self_rel = "tests/docs/check_doc_citations.py"  # in any tree checked, not only this one
    problems = []
    for rel in files:
        if rel == self_rel:
            continue  # this check must name the documents
        if rel.startswith("tests/fuzz/") and "corpus/" in rel:
            continue  # fuzzer inputs (about 2,000 files): data, not comments or docs
        path = os.path.join(root, rel)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue  # listed but absent (e.g. deleted in the work tree)
        if b"\0" in data[:8192]:
            continue  # binary
        low = data.lower()  # cheap pre-filter on the raw bytes
        if not any(n in low for n in quick):
            continue
        text = data.decode("utf-8", "replace")
        for no, line in enumerate(text.splitlines(), 1):
            hit = (doc_re.search(line) if doc_re else None) or SHARED_PATH.search(line)
            if not hit:
                continue
            if (rel, line.strip()) in PENDING_CODE_LINES:
                continue
            problems.append("%s:%d: cites %r, which is not in the repository: %s"
                            % (rel, no, hit.group(0), line.strip()[:160]))
    for p in problems:
        print(p)
    if problems:
        print("%d citation(s) of documents outside the repository; cite a README.md section, a "
              "file under docs/ or tests/, or state the fact itself" % len(problems))
        return 1
    print("ok: %d tracked files, no citation of %s or ../shared" % (len(files), ", ".join(names)))
    return 0


def self_test():
    """The check must be able to fail: run it on made-up trees (no git, so it walks them)."""
    cases = [  # (files, expected exit code)
        ({"a.cc": "// see keda-contract.md \u00a78\n"}, 1),
        ({"docs/b.md": "As Product.MD says.\n"}, 1),
        ({"c.py": "# from ../shared/corpus/SOURCES.md\n"}, 1),
        ({"d.md": "README.md \"What KEDA gets, and when\"; docs/emulator-calibration.md\n"}, 0),
        ({"e.md": "see architecture.md\n", "docs/architecture.md": "# Design\n"}, 0),
    ]
    return run_self_test(main, cases)


if __name__ == "__main__":
    sys.exit(self_test() if sys.argv[1:] == ["--self-test"] else main(sys.argv))
