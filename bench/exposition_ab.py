#!/usr/bin/env python3
"""Compares two builds of the exposition parser, run alternately on the same machine.

Usage: exposition_ab.py BEFORE_PREFIX AFTER_PREFIX
Reads BEFORE_PREFIX-*.tsv and AFTER_PREFIX-*.tsv, each the output of one
`bench/exposition_bench MS FILES...` run (file, mode, bytes, samples, ns per parse, allocs),
and prints per file and mode the median ns per parse of each side, their ratio, and the
geometric mean of the ratios per mode. BENCHMARKS.md shows how the runs are made.
"""
import sys, statistics, collections, glob, os
def load(prefix):
    d = collections.defaultdict(list)
    for f in sorted(glob.glob(prefix + '-*.tsv')):
        for line in open(f):
            p = line.rstrip('\n').split('\t')
            if len(p) < 6: continue
            d[(os.path.basename(p[0]), p[1])].append(float(p[4]))  # ns per parse
    return d
b, n = load(sys.argv[1]), load(sys.argv[2])
ratios = collections.defaultdict(list)
print('| file | mode | before ns/parse (median) | after | after/before |')
print('|---|---|---:|---:|---:|')
for k in sorted(b):
    if k[1] == 'memchr' or k not in n: continue
    mb, mn = statistics.median(b[k]), statistics.median(n[k])
    ratios[k[1]].append(mn / mb)
    print(f'| {k[0]} | {k[1]} | {mb:,.0f} | {mn:,.0f} | {mn/mb:.3f} |')
for m, r in ratios.items():
    print(f'geomean {m}: {statistics.geometric_mean(r):.3f}')
