#!/usr/bin/python3
"""The quickstart's load Job works (issue 15 item 4): deploy/quickstart/load.yaml's script, run
with bash against the real nim-emulator and a stand-in for nim-scaler's wake hook, on loopback.

Usage: check_quickstart_load.py EMULATOR_BINARY LOAD_YAML

The Job's own script and env, with only what points into the cluster replaced: PODS resolves to
127.0.0.1 (localhost), WAKE_URL is a local HTTP server that records the call, the control port is a
free port instead of 8001, and ROUNDS/PERIOD are short. It must: POST the wake path once; give the
ready pod all USERS users (the emulator's /state shows that concurrency while it runs); log each
round; and set 0 users at the end and when it gets SIGTERM (as `kubectl delete job` sends).
"""
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import yaml


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def state(cp):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cp}/state", timeout=3) as r:
            return json.loads(r.read())
    except OSError:
        return {}


def main():
    emulator, manifest = sys.argv[1], sys.argv[2]
    job = next(d for d in yaml.safe_load_all(open(manifest)) if d and d["kind"] == "Job")
    c = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    if c.get("command", [])[:1] != ["/bin/bash"] or not c.get("args"):
        print(f"ERROR {manifest}: the Job must run a bash script (command /bin/bash -c, args [script])")
        return 1
    script = c["args"][0]
    errors = []

    wakes = []

    class Wake(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            wakes.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Wake)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    wake_path = urllib.parse.urlparse(env.get("WAKE_URL", "")).path
    cp = free_port()
    if ":8001/" not in script:
        errors.append("the script does not POST to port 8001 (the fake NIM's --control-port)")
    script = script.replace(":8001/", f":{cp}/")
    run_env = dict(os.environ)
    run_env.update(env)
    run_env.update(PODS="localhost", ROUNDS="3", PERIOD="0.3",
                   WAKE_URL=f"http://127.0.0.1:{srv.server_address[1]}{wake_path}")
    emu = subprocess.Popen([emulator, "--pods", "1", "--control-port", str(cp), "--duration", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    users = int(env.get("USERS", "0"))
    try:
        for i in range(50):
            if state(cp):
                break
            time.sleep(0.1)
        # 1. A whole run: users while it runs, none after, one wake.
        p = subprocess.Popen(["/bin/bash", "-c", script], env=run_env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        seen = set()
        while p.poll() is None:
            seen.add(state(cp).get("concurrency"))
            time.sleep(0.1)
        out = p.stdout.read()
        if p.returncode != 0:
            errors.append(f"the script exited {p.returncode}: {out[-300:]}")
        if users not in seen:
            errors.append(f"while it ran the pod had {sorted(x for x in seen if x is not None)} users, never USERS={users}")
        if state(cp).get("concurrency") != 0:
            errors.append(f"after the run the pod still has {state(cp).get('concurrency')} users")
        if wakes != [wake_path]:
            errors.append(f"wake hook calls {wakes}, expected one POST {wake_path}")
        if not re.search(r"round 3/3: 1 ready pod\(s\), %d users each" % users, out):
            errors.append(f"no per-round log line: {out[-300:]}")
        # 2. SIGTERM in the middle: the users are taken away on the way out.
        p = subprocess.Popen(["/bin/bash", "-c", script], env=dict(run_env, ROUNDS="100"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 10
        while time.time() < deadline and state(cp).get("concurrency") != users:
            time.sleep(0.1)
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            errors.append("the script did not end within 15 s of SIGTERM")
        if state(cp).get("concurrency") != 0:
            errors.append(f"after SIGTERM the pod still has {state(cp).get('concurrency')} users")
    finally:
        emu.terminate()
        emu.wait(timeout=10)
        srv.shutdown()
    for e in errors:
        print(f"ERROR {os.path.basename(manifest)}: {e}")
    print(f"check_quickstart_load: USERS={users}: {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
