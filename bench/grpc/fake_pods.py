"""Loopback fake NIM pods for the KEDA call-latency benchmark (one asyncio process, many ports).

Each port serves GET /v1/metrics: the real NIM 1.x capture (tests/testdata/engines/) with the
load gauges set per pod. Control, on the same port:
  GET /control/set?waiting=N[&running=N&kv=F]  set this pod's gauges; clears first_active
  GET /control/first_active                    CLOCK_MONOTONIC time (s) of the first /v1/metrics
                                               answer with waiting+running > 0 since the last set
                                               to a client other than Prometheus, or "null"
Usage: fake_pods.py <count>   prints one line "ports: p1,p2,..." then serves until stdin closes.
"""

import asyncio
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "conformance"))

import harness  # noqa: E402  (nim_metrics: the capture with values rewritten)


class Pod:
    def __init__(self):
        self.state = {"kv": 0.05, "waiting": 0, "running": 0}
        self.first_active = None
        self.body = b""
        self.render()

    def render(self):
        self.body = harness.nim_metrics(**self.state).encode()

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode(errors="replace").split("\r\n")
                target = lines[0].split(" ")[1] if " " in lines[0] else "/"
                agent = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("user-agent:")), "")
                status, ctype, body = self.route(target, agent)
                writer.write(b"HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" %
                             (status, ctype, len(body)) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def route(self, target, agent):
        url = urllib.parse.urlsplit(target)
        if url.path == "/v1/metrics" or url.path == "/metrics":
            scaler = not agent.startswith("Prometheus")  # Prometheus scrapes the same pods
            if scaler and self.first_active is None and (self.state["waiting"] or self.state["running"]):
                self.first_active = time.monotonic()
            return 200, b"text/plain; version=0.0.4", self.body
        if url.path == "/control/set":
            for k, v in urllib.parse.parse_qsl(url.query):
                self.state[k] = float(v)
            self.first_active = None
            self.render()
            return 200, b"text/plain", b"ok"
        if url.path == "/control/first_active":
            return 200, b"application/json", json.dumps(self.first_active).encode()
        return 404, b"text/plain", b"not found"


async def main(count):
    servers, ports = [], []
    for _ in range(count):
        pod = Pod()
        srv = await asyncio.start_server(pod.handle, "127.0.0.1", 0, backlog=1024)
        servers.append(srv)
        ports.append(srv.sockets[0].getsockname()[1])
    print("ports: " + ",".join(map(str, ports)), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the driver closes our stdin


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
