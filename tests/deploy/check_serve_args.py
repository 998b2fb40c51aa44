#!/usr/bin/python3
"""The flags the Helm chart passes must be ones the real `nim-scaler serve` accepts.

Usage: check_serve_args.py BINARY RENDERED_YAML...

For each rendered chart, runs the binary with the Deployment's args plus one deliberately unknown
flag. The server checks its whole command line before it opens a port and reports every problem at
once, so the run must stop with exactly one complaint: the sentinel. Any other complaint is a flag or
value of the chart that the binary refuses. A file given with --config is created for the run from
the rendered ConfigMap. The container's env is passed as the kubelet would set it, with made-up
downward-API values (pod and node addresses, namespace), and $(VAR) references in the args are
expanded from it like the kubelet does (the HA flags --advertise-addr and --peers-namespace use them).
Flags docs/operations.md "Running the server" documents but this build lacks (PENDING) are reported as
notes, not failures.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

SENTINEL = "--zz-deploy-check-sentinel"
# Flags docs/operations.md "Running the server" documents that the binary may not have yet: name -> where promised.
PENDING = {}


# Made-up values for the downward API fields the chart reads.
FIELD_VALUES = {"status.podIP": "10.244.1.7", "status.hostIP": "192.168.10.4", "metadata.name": "nim-scaler-0"}


def container_env(container, namespace):
    """The env the kubelet would give the container: literal values and downward-API fields."""
    out = {}
    for e in container.get("env") or []:
        if "value" in e:
            out[e["name"]] = str(e["value"])
            continue
        path = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if path == "metadata.namespace":
            out[e["name"]] = namespace
        elif path in FIELD_VALUES:
            out[e["name"]] = FIELD_VALUES[path]
    return out


def expand(arg, env):
    """Kubernetes' $(VAR) expansion: a defined VAR is replaced, $$ is a literal $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def main():
    binary, files = sys.argv[1], sys.argv[2:]
    failures, notes = [], []
    for f in files:
        docs = [d for d in yaml.safe_load_all(open(f)) if d]
        dep = next(d for d in docs if d["kind"] == "Deployment")
        container = dep["spec"]["template"]["spec"]["containers"][0]
        cenv = container_env(container, dep["metadata"].get("namespace", "default"))
        args = [expand(x, cenv) for x in container["args"]]
        left = [x for x in args if "$(" in x]
        if left:
            failures.append(f"{f}: args reference variables the container does not define: {left}")
            continue
        tmp = tempfile.mkdtemp(prefix="nimscaler-args-")
        cms = [d for d in docs if d["kind"] == "ConfigMap" and "config.json" in d.get("data", {})]
        if "--config" in args:
            path = os.path.join(tmp, "config.json")
            with open(path, "w") as fh:
                fh.write(cms[0]["data"]["config.json"] if cms else "{}")
            args[args.index("--config") + 1] = path
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIM_SCALER_")}
        env.update(cenv)
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
