#!/usr/bin/python3
"""The flags the Helm chart passes must be ones the real `nim-scaler serve` accepts.

Usage: check_serve_args.py BINARY RENDERED_YAML...

For each rendered chart, runs the binary with the Deployment's args plus one deliberately unknown
flag. The server checks its whole command line before it opens a port and reports every problem at
once, so the run must stop with exactly one complaint: the sentinel. Any other complaint is a flag or
value of the chart that the binary refuses. A file given with --config is created for the run from
the rendered ConfigMap. Flags the product spec promises but this build lacks (PENDING) are reported as
notes, not failures.
"""
import os
import subprocess
import sys
import tempfile

import yaml

SENTINEL = "--zz-deploy-check-sentinel"
# Flags of docs/product.md that the binary may not have yet: name -> where promised.
PENDING = {"--wake-token-file": "product.md section 4 (wake hook token)"}


def main():
    binary, files = sys.argv[1], sys.argv[2:]
    failures, notes = [], []
    for f in files:
        docs = [d for d in yaml.safe_load_all(open(f)) if d]
        dep = next(d for d in docs if d["kind"] == "Deployment")
        args = list(dep["spec"]["template"]["spec"]["containers"][0]["args"])
        tmp = tempfile.mkdtemp(prefix="nimscaler-args-")
        cms = [d for d in docs if d["kind"] == "ConfigMap" and "config.json" in d.get("data", {})]
        if "--config" in args:
            path = os.path.join(tmp, "config.json")
            with open(path, "w") as fh:
                fh.write(cms[0]["data"]["config.json"] if cms else "{}")
            args[args.index("--config") + 1] = path
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIM_SCALER_")}
        try:
            p = subprocess.run([binary] + args + [SENTINEL], capture_output=True, text=True, timeout=10, env=env)
        except subprocess.TimeoutExpired:
            failures.append(f"{f}: the binary started serving instead of rejecting {SENTINEL}")
            continue
        out = (p.stdout + p.stderr).strip().splitlines()
        problems = [l.strip() for l in out[1:]] if out else []
        if p.returncode == 0 or not any(SENTINEL in l for l in problems):
            failures.append(f"{f}: expected a refusal of {SENTINEL}, got exit {p.returncode}: {' | '.join(out)[:300]}")
            continue
        for l in problems:
            if SENTINEL in l:
                continue
            pending = [k for k in PENDING if k in l]
            # A pending flag's value shows up as a stray argument right after it.
            if pending or (l.startswith("unexpected argument") and any(k in args for k in PENDING)):
                notes.append(f"{f}: {l} ({', '.join(PENDING[k] for k in pending) or 'value of a pending flag'})")
                continue
            failures.append(f"{f}: nim-scaler serve refuses the chart's arguments: {l}")
    for n in notes:
        print(f"note: {n}")
    for x in failures:
        print(f"ERROR {x}")
    print(f"check_serve_args: {len(files)} renderings, {len(failures)} problems, {len(notes)} pending-flag notes")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main())
