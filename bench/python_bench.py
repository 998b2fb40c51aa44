"""Python prometheus_client parser throughput (Debian python3-prometheus-client).

Usage: /usr/bin/python3 bench/python_bench.py MS FILE...
Prints: file  python  bytes  samples  ns_per_parse  -   (or the error instead of numbers)
OpenMetrics files (*.om.txt) use prometheus_client.openmetrics.parser, the others
prometheus_client.parser.
"""
import sys
import time

from prometheus_client import parser as text_parser
from prometheus_client.openmetrics import parser as om_parser


def parse(data, om):
    fams = (om_parser if om else text_parser).text_string_to_metric_families(data)
    return sum(len(f.samples) for f in fams)


def main():
    ms = int(sys.argv[1])
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            raw = f.read()
        data = raw.decode("utf-8", "replace")
        om = ".om." in path
        try:
            samples = parse(data, om)
        except Exception as e:  # noqa: BLE001 - report any parser error
            print(f"{path}\tpython\t{len(raw)}\t-\t-\t{type(e).__name__}")
            continue
        iters = 0
        start = time.perf_counter()
        while time.perf_counter() - start < ms / 1000.0 or iters < 3:
            parse(data, om)
            iters += 1
        ns = (time.perf_counter() - start) * 1e9 / iters
        print(f"{path}\tpython\t{len(raw)}\t{samples}\t{ns:.0f}\t-", flush=True)


if __name__ == "__main__":
    main()
