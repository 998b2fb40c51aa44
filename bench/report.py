"""Turns the TSV lines of exposition_bench, expfmt_dump bench and python_bench.py into the
markdown table of BENCHMARKS.md. Usage: python3 bench/report.py RESULTS.tsv"""
import collections
import os
import sys

rows = collections.defaultdict(dict)
order = []
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 5:
        continue
    path, variant, size, samples, ns = parts[:5]
    name = os.path.basename(path)
    if name not in rows:
        order.append(name)
    try:
        rows[name][variant] = (int(size), int(samples), float(ns), parts[5] if len(parts) > 5 else "-")
    except ValueError:
        rows[name][variant] = (int(size), None, None, parts[4])


def mbs(v):
    return v[0] / v[2] * 1e3 if v and v[2] else None


def fmt(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f}"


print("| file | bytes | samples | memchr MB/s | ours full MB/s | ours full Msamples/s | ns/sample | allocs/parse | ours selective MB/s | ours skip MB/s | expfmt MB/s | python MB/s | full ÷ expfmt | full ÷ python |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in order:
    r = rows[name]
    full = r.get("full")
    if not full:
        continue
    size, samples = full[0], full[1]
    go = r.get("expfmt")
    py = r.get("python")
    go_mbs = mbs(go) if go and go[2] else None
    py_mbs = mbs(py) if py and py[2] else None
    full_mbs = mbs(full)
    print("| {} | {:,} | {:,} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        name, size, samples, fmt(mbs(r.get("memchr"))), fmt(full_mbs),
        fmt(samples / full[2] * 1e3, 1), fmt(full[2] / samples, 0), full[3],
        fmt(mbs(r.get("selective"))), fmt(mbs(r.get("skip"))),
        fmt(go_mbs, 1) if go_mbs else "rejects",
        fmt(py_mbs, 2) if py_mbs else "rejects",
        (fmt(full_mbs / go_mbs, 0) + "×") if go_mbs else "–",
        (fmt(full_mbs / py_mbs, 0) + "×") if py_mbs else "–"))
