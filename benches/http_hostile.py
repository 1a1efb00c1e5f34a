#!/usr/bin/env python3
"""Idle keep-alive connections against one herd agent's HTTP listener.

Opens N keep-alive connections to /health, each asking once and then
staying open and silent, then polls /health on fresh connections and
reports the latency, the agent's RSS (peak and after the idle ones close)
and whether the agent's own TCP check kept passing. Run it as:

    benches/http_hostile.py target/release/herd 10000
    benches/http_hostile.py target/release/herd 1100 --nofile 1024

It needs `ulimit -n` above N for itself (it raises its own soft limit).
"""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(port, path, timeout=2.0):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return time.monotonic() - start, data


def poll(port, n):
    times, failures = [], 0
    for _ in range(n):
        try:
            t, data = get(port, "/health")
            if data.startswith(b"HTTP/1.1 200"):
                times.append(t * 1000)
            else:
                failures += 1
        except OSError:
            failures += 1
        time.sleep(0.01)
    times.sort()
    if not times:
        return f"all {n} failed"
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms, {failures} of {n} failed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("herd")
    ap.add_argument("connections", type=int)
    ap.add_argument("--nofile", type=int, help="the agent's RLIMIT_NOFILE")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 1024), hard))

    work = tempfile.mkdtemp(prefix="herd-http-")
    http, gossip = free_port(), free_port()
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(64)
    config = os.path.join(work, "herd.toml")
    with open(config, "w") as f:
        f.write(f'[[check]]\ntcp = "127.0.0.1:{target.getsockname()[1]}"\ninterval = "1s"\n')
    limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))) if args.nofile else None
    agent = subprocess.Popen(
        [args.herd, "agent", "--name", "a", "--bind", f"127.0.0.1:{gossip}",
         "--http", f"127.0.0.1:{http}", "--config", config],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "agent.log"), "w"),
        preexec_fn=limit,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if get(http, "/health")[1].startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                pass
            # accept the check's connections meanwhile
            target.settimeout(0.05)
            try:
                target.accept()[0].close()
            except OSError:
                pass
        idle_rss = rss_kib(agent.pid)
        print(f"agent up: RSS {idle_rss} KiB, nofile {args.nofile or 'default'}")
        print(f"/health before: {poll(http, 100)}")

        conns, refused = [], 0
        t0 = time.monotonic()
        for i in range(args.connections):
            try:
                s = socket.create_connection(("127.0.0.1", http), timeout=2)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                conns.append(s)
            except OSError:
                refused += 1
            if i % 500 == 0:
                target.settimeout(0.001)
                try:
                    target.accept()[0].close()
                except OSError:
                    pass
        print(f"{len(conns)} keep-alive connections opened in {time.monotonic() - t0:.1f} s ({refused} failed to open)")
        peak = rss_kib(agent.pid)
        target.settimeout(0.001)
        print(f"/health while they are open: {poll(http, 200)}")
        peak = max(peak, rss_kib(agent.pid))
        with_conns = subprocess.run(["ls", f"/proc/{agent.pid}/fd"], capture_output=True, text=True).stdout.split()
        health = get(http, "/health")[1].split(b"\r\n\r\n", 1)[-1][:200]
        print(f"agent fds {len(with_conns)}, RSS peak {peak} KiB, /health says {health!r}")
        for s in conns:
            s.close()
        time.sleep(2)
        print(f"after they close: RSS {rss_kib(agent.pid)} KiB; /health: {poll(http, 50)}")
        with open(os.path.join(work, "agent.log")) as f:
            errors = [l.strip() for l in f if "Too many open files" in l or "failing" in l]
        print(f"log lines about fds or failing checks: {len(errors)}", *errors[:3], sep="\n  ")
    finally:
        agent.kill()
        agent.wait()


if __name__ == "__main__":
    sys.exit(main())
