#!/usr/bin/python3
"""The quickstart's fake NIM runs as written (issue 15 item 4): deploy/quickstart/fake-nim.yaml's
container arguments, run through the real nim-emulator binary on loopback.

Usage: check_quickstart_emulator.py EMULATOR_BINARY FAKE_NIM_YAML

From the Deployment whose container runs the nim-emulator image:
  * its args are exactly what the binary accepts (an unknown flag exits 2: the check fails);
  * --pod-port is the containerPort the readinessProbe and the Service named `fake-nim` target, and
    --control-port the containerPort of the headless Service the load Job resolves;
  * started with those args (only the addresses changed: --listen 127.0.0.1 and free ports, so
    the check binds loopback only; --compression 20 so --startup-delay passes in a second), the
    readinessProbe path answers 503 and then 200, /v1/metrics serves NIM's gpu_cache_usage_perc
    for the --model the ScaledObject filters on, and POST /load?concurrency=N on the control port
    (what deploy/quickstart/load.yaml sends) makes requests run.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def flag(args, name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def main():
    binary, manifest = sys.argv[1], sys.argv[2]
    docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
    errors = []
    dep = next((d for d in docs if d["kind"] == "Deployment"), None)
    if not dep:
        print(f"ERROR {manifest}: no Deployment")
        return 1
    pod = dep["spec"]["template"]["spec"]
    c = next((c for c in pod["containers"] if c["image"].split(":")[0].endswith("nim-emulator")), None)
    if not c:
        print(f"ERROR {manifest}: no container runs the nim-emulator image")
        return 1
    args = [str(a) for a in c.get("args", [])]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    pod_port, control_port = flag(args, "--pod-port"), flag(args, "--control-port")
    model = flag(args, "--model") or "meta/llama-3.1-8b-instruct"
    if flag(args, "--listen") != "0.0.0.0":
        errors.append("--listen must be 0.0.0.0: on the default 127.0.0.1 nothing outside the container reaches it")
    if pod_port is None or int(pod_port) not in ports.values():
        errors.append(f"--pod-port {pod_port} is not a containerPort {sorted(ports.values())}")
    if control_port is None or int(control_port) not in ports.values():
        errors.append(f"--control-port {control_port} is not a containerPort {sorted(ports.values())}")

    def resolve(port):
        return ports.get(port, port) if isinstance(port, str) else port

    probe = c.get("readinessProbe", {}).get("httpGet", {})
    if str(resolve(probe.get("port"))) != str(pod_port):
        errors.append(f"readinessProbe port {probe.get('port')} is not --pod-port {pod_port}")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for name, want in (("fake-nim", pod_port), ("fake-nim-pods", control_port)):
        svc = services.get(name)
        if not svc:
            errors.append(f"no Service {name}")
            continue
        targets = [str(resolve(p.get("targetPort", p["port"]))) for p in svc["spec"]["ports"]]
        if str(want) not in targets:
            errors.append(f"Service {name} targets {targets}, not {want}")

    # Run it: same args, loopback addresses and free ports.
    run = list(args)
    pp, cp = free_port(), free_port()
    for name, value in (("--listen", "127.0.0.1"), ("--pod-port", str(pp)), ("--control-port", str(cp))):
        if name in run:
            run[run.index(name) + 1] = value
    run += ["--compression", "20", "--duration", "30"]
    proc = subprocess.Popen([binary] + run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        path = probe.get("path", "/v1/health/ready")
        seen = []
        deadline = time.time() + 15
        while time.time() < deadline and proc.poll() is None:
            code, _ = get(f"http://127.0.0.1:{pp}{path}")
            if not seen or seen[-1] != code:
                seen.append(code)
            if code == 200:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            out = proc.stdout.read()
            errors.append(f"nim-emulator exited {proc.returncode} with the manifest's args: {out.strip()[:300]}")
            raise StopIteration
        if seen[-1:] != [200] or 503 not in seen:
            errors.append(f"readinessProbe {path}: answers {seen}, expected 503 (loading) and then 200")
        code, body = get(f"http://127.0.0.1:{pp}/v1/metrics")
        want = f'gpu_cache_usage_perc{{model_name="{model}"}}'
        if code != 200 or want not in body:
            errors.append(f"/v1/metrics: HTTP {code}, {want} {'missing' if code == 200 else ''}")
        code, body = get(f"http://127.0.0.1:{cp}/load?concurrency=20", "POST")
        if code != 200:
            errors.append(f"POST /load?concurrency=20 on --control-port: HTTP {code} {body[:200]}")
        running = None
        deadline = time.time() + 10
        while time.time() < deadline:
            _, body = get(f"http://127.0.0.1:{pp}/v1/metrics")
            line = next((l for l in body.splitlines() if l.startswith("num_requests_running{")), "")
            running = float(line.split()[-1]) if line else None
            if running:
                break
            time.sleep(0.1)
        if not running:
            errors.append(f"after POST /load no request runs (num_requests_running {running})")
    except StopIteration:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    for e in errors:
        print(f"ERROR {os.path.basename(manifest)}: {e}")
    print(f"check_quickstart_emulator: {' '.join(args)}: {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
