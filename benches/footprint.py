#!/usr/bin/env python3
"""Footprint of herd agents side by side with plain foca, in one run (issue 15).

    benches/footprint.py [N] [--window S] [--settle S]
    benches/footprint.py --wrk [--rounds R] [--wrk-duration 10s]

Footprint mode (the default): on loopback, starts N herd agents
(`target/release/herd agent`, default configuration) and N foca-baseline
processes (`benches/foca-baseline`: foca 2.x `Config::new_lan(N)`, foca's
PostcardCodec, one-thread tokio runtime, a hand-written HTTP/1.1 server),
both clusters at once. It waits until each cluster has formed (every herd
agent's /v1/members lists N alive members and every agent has joined; every
baseline's /metrics counts N-1 other members), lets them settle, and then
over a window measures for every process:

  - VmRSS, RssAnon, RssFile and Threads from /proc/PID/status at the end
    of the window;
  - CPU, % of one core: utime+stime from /proc/PID/stat (10 ms ticks) over
    the window, and the same from /proc/PID/task/*/schedstat (nanoseconds,
    the threads alive at both ends), which is what resolves an idle process;
  - datagrams and UDP payload bytes sent per second (herd:
    herd_packets_sent_total and herd_sent_bytes_total from /metrics;
    baseline: sent_datagrams and sent_bytes from its /metrics).

It prints a markdown table of medians and ranges over the processes, and
herd / baseline ratios of the medians. herd's lease (issue 12) makes the
primary renew with two witnesses every lease_interval; a second table
leaves those three agents out (the issue counts the lease separately).

--wrk mode: a three-agent herd cluster gossiping and nginx with one worker
answering `return 200 "ok"`; `wrk -t1 -c64 -d10s --latency` against
nginx's /health and one herd agent's /health, interleaved (nginx, herd,
nginx, herd, ...), R rounds each (default 3); prints req/s and p99 medians,
ranges and ratios. Needs nginx and wrk (apt-get install nginx-light wrk).

Every process it starts is stopped on exit, Ctrl-C or error, and its
temporary directory removed. Ports (loopback only): herd gossip 21000+i,
HTTP 22000+i, admin 23000+i; baseline gossip 24000+i, HTTP 25000+i;
nginx 26000.

Builds target/release/herd (cargo build --release) if it is missing or
older than src/, Cargo.toml or Cargo.lock, and the baseline likewise,
unless --no-build.
"""

import argparse
import atexit
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HERD = HERD = os.path.join(ROOT, "target", "release", "herd")
BASELINE_DIR = os.path.join(ROOT, "benches", "foca-baseline")
BASELINE = os.path.join(BASELINE_DIR, "target", "release", "foca-baseline")

HERD_GOSSIP, HERD_HTTP, HERD_ADMIN = 21000, 22000, 23000
BASE_GOSSIP, BASE_HTTP = 24000, 25000
NGINX_PORT = 26000

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- processes and cleanup -------------------------------------------------

CHILDREN = []  # (name, Popen)
TEMP_DIRS = []


def cleanup():
    for _name, proc in CHILDREN:
        if proc.poll() is None:
            try:
                # Each child leads its own process group (start_new_session):
                # nginx's worker goes with its master.
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for _name, proc in CHILDREN:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    CHILDREN.clear()
    for d in TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    TEMP_DIRS.clear()


def on_signal(signum, _frame):
    cleanup()
    sys.stderr.write(f"\nstopped by signal {signum}; every process started was stopped\n")
    os._exit(128 + signum)


def spawn(name, argv, log_dir):
    log = open(os.path.join(log_dir, name + ".log"), "wb")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    CHILDREN.append((name, proc))
    return proc


def run_tracked(argv):
    """Runs argv to the end and returns its stdout; stopped by cleanup too."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    CHILDREN.append((argv[0], proc))
    out, _ = proc.communicate()
    CHILDREN.remove((argv[0], proc))
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exited with {proc.returncode}")
    return out


def check_alive(procs, log_dir):
    for name, proc in procs:
        if proc.poll() is not None:
            path = os.path.join(log_dir, name + ".log")
            tail = open(path, errors="replace").read()[-2000:] if os.path.exists(path) else ""
            raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail}")


# --- building --------------------------------------------------------------


def newest_mtime(paths):
    newest = 0.0
    for path in paths:
        if os.path.isdir(path):
            for dirpath, _dirs, files in os.walk(path):
                for f in files:
                    newest = max(newest, os.path.getmtime(os.path.join(dirpath, f)))
        elif os.path.exists(path):
            newest = max(newest, os.path.getmtime(path))
    return newest


def ensure_built(no_build):
    herd_sources = [os.path.join(ROOT, p) for p in ("src", "Cargo.toml", "Cargo.lock", "build.rs")]
    base_sources = [os.path.join(BASELINE_DIR, p) for p in ("src", "Cargo.toml", "Cargo.lock")]
    builds = [(HERD, herd_sources, ["cargo", "build", "--release"])] if HERD == DEFAULT_HERD else []
    for binary, sources, cmd in builds + [
        (
            BASELINE,
            base_sources,
            ["cargo", "build", "--release", "--manifest-path", os.path.join(BASELINE_DIR, "Cargo.toml")],
        ),
    ]:
        stale = not os.path.exists(binary) or os.path.getmtime(binary) < newest_mtime(sources)
        if stale and no_build:
            if not os.path.exists(binary):
                raise SystemExit(f"{binary} is missing (and --no-build)")
            print(f"note: {os.path.relpath(binary, ROOT)} is older than its sources (--no-build)", file=sys.stderr)
        elif stale:
            print("+ " + " ".join(cmd), file=sys.stderr)
            subprocess.run(cmd, cwd=ROOT, check=True)


# --- HTTP and /proc --------------------------------------------------------


def http_get(port, path, timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.read().decode()


def try_get(port, path):
    try:
        return http_get(port, path)
    except Exception:
        return None


def prom_value(text, name):
    """Sum of every sample of metric `name` (with or without labels)."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    if not found:
        raise KeyError(name)
    return total


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])  # kB
            elif key == "Threads":
                out[key] = int(value)
    return out


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def proc_cpu_ns(pid):
    total = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total[tid] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_percent(before, after):
    """% of all cores busy between two cpu_times()."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total else 0.0


# --- statistics and tables -------------------------------------------------


def fmt(x, digits):
    return f"{x:,.{digits}f}"


def summary(values, digits):
    med = statistics.median(values)
    return med, f"{fmt(med, digits)} ({fmt(min(values), digits)} to {fmt(max(values), digits)})"


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


# --- footprint mode --------------------------------------------------------


def start_herd(n, tmp):
    procs = []
    founder = f"127.0.0.1:{HERD_GOSSIP}"
    for i in range(n):
        name = f"h{i}"
        argv = [
            HERD, "agent",
            "--name", name,
            "--bind", f"127.0.0.1:{HERD_GOSSIP + i}",
            "--http", f"127.0.0.1:{HERD_HTTP + i}",
            "--admin", f"127.0.0.1:{HERD_ADMIN + i}",
            "--join", founder,
        ]
        procs.append((name, spawn(name, argv, tmp)))
        if i == 0:
            # The founder first (its only seed is itself), then the rest.
            wait_until(lambda: try_get(HERD_HTTP, "/health") is not None, 20, "herd founder up", procs, tmp)
    return procs


def start_baseline(n, tmp):
    procs = []
    for i in range(n):
        name = f"f{i}"
        argv = [
            BASELINE,
            "--gossip", f"127.0.0.1:{BASE_GOSSIP + i}",
            "--http", f"127.0.0.1:{BASE_HTTP + i}",
            "--cluster-size", str(n),
        ]
        if i > 0:
            argv += ["--seed", f"127.0.0.1:{BASE_GOSSIP}"]
        procs.append((name, spawn(name, argv, tmp)))
        if i == 0:
            wait_until(lambda: try_get(BASE_HTTP, "/metrics") is not None, 20, "baseline founder up", procs, tmp)
    return procs


def wait_until(cond, timeout, what, procs, tmp):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(procs, tmp)
        if cond():
            return time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"timed out after {timeout} s waiting for: {what}")


def herd_formed(n):
    for i in range(n):
        text = try_get(HERD_HTTP + i, "/v1/members")
        health = try_get(HERD_HTTP + i, "/health")
        if text is None or health is None:
            return False
        members = json.loads(text)["members"]
        if sum(1 for m in members if m["state"] == "alive") != n:
            return False
        if json.loads(health).get("phase") != "joined":
            return False
    return True


def baseline_formed(n):
    for i in range(n):
        text = try_get(BASE_HTTP + i, "/metrics")
        if text is None or prom_value(text, "members") != n - 1:
            return False
    return True


def sample_counters(kind, port):
    text = http_get(port, "/metrics")
    if kind == "herd":
        return {
            "datagrams": prom_value(text, "herd_packets_sent_total"),
            "bytes": prom_value(text, "herd_sent_bytes_total"),
            "lease_sent": prom_value(text, "herd_lease_renewals_sent_total"),
            "lease_witnessed": prom_value(text, "herd_lease_renewals_witnessed_total"),
        }
    return {
        "datagrams": prom_value(text, "sent_datagrams"),
        "bytes": prom_value(text, "sent_bytes"),
    }


def footprint(args, tmp):
    n = args.n
    t_start = time.monotonic()
    herd = start_herd(n, tmp)
    base = start_baseline(n, tmp)
    everyone = herd + base
    t_herd = wait_until(lambda: herd_formed(n), args.form_timeout, f"{n} herd agents to see {n} alive", everyone, tmp)
    t_base = wait_until(lambda: baseline_formed(n), args.form_timeout, f"{n} baselines to see {n - 1} others", everyone, tmp)
    print(
        f"formed: herd after {t_herd - t_start:.1f} s, baseline after {t_base - t_start:.1f} s "
        f"(both started at once); settling {args.settle:g} s, then a {args.window:g} s window",
        file=sys.stderr,
    )
    time.sleep(args.settle)
    check_alive(everyone, tmp)

    ports = {name: (HERD_HTTP + i if name.startswith("h") else BASE_HTTP + i)
             for group in (herd, base) for i, (name, _p) in enumerate(group)}
    kinds = {name: ("herd" if name.startswith("h") else "base") for name, _p in everyone}

    # Counters first and CPU second at the start, CPU first and counters
    # second at the end: the scrapes' own CPU falls outside the window.
    c0 = {name: sample_counters(kinds[name], ports[name]) for name, _p in everyone}
    t0 = time.monotonic()
    machine0 = cpu_times()
    ticks0 = {name: proc_cpu_ticks(p.pid) for name, p in everyone}
    ns0 = {name: proc_cpu_ns(p.pid) for name, p in everyone}
    time.sleep(args.window)
    ticks1 = {name: proc_cpu_ticks(p.pid) for name, p in everyone}
    ns1 = {name: proc_cpu_ns(p.pid) for name, p in everyone}
    machine1 = cpu_times()
    t1 = time.monotonic()
    c1 = {name: sample_counters(kinds[name], ports[name]) for name, _p in everyone}
    status = {name: proc_status(p.pid) for name, p in everyone}
    check_alive(everyone, tmp)
    still_formed = herd_formed(n) and baseline_formed(n)

    span = t1 - t0
    rows = {}
    thread_churn = []
    for name, _p in everyone:
        common = set(ns0[name]) & set(ns1[name])
        if set(ns0[name]) != set(ns1[name]):
            thread_churn.append(name)
        dg = (c1[name]["datagrams"] - c0[name]["datagrams"]) / span
        by = (c1[name]["bytes"] - c0[name]["bytes"]) / span
        row = {
            "VmRSS": status[name]["VmRSS"] / 1024,
            "RssAnon": status[name]["RssAnon"] / 1024,
            "RssFile": status[name]["RssFile"] / 1024,
            "Threads": status[name]["Threads"],
            "cpu_ticks": 100 * (ticks1[name] - ticks0[name]) / CLK_TCK / span,
            "cpu_ns": 100 * sum(ns1[name][t] - ns0[name][t] for t in common) / 1e9 / span,
            "dg": dg,
            "bytes": by,
            "per_dg": by / dg if dg else 0.0,
        }
        if kinds[name] == "herd":
            row["lease"] = (c1[name]["lease_sent"] - c0[name]["lease_sent"]) > 0 or (
                c1[name]["lease_witnessed"] - c0[name]["lease_witnessed"]
            ) > 0
            row["lease_sent"] = c1[name]["lease_sent"] - c0[name]["lease_sent"]
        rows[name] = row

    herd_rows = [rows[name] for name, _p in herd]
    base_rows = [rows[name] for name, _p in base]
    figures = [
        ("VmRSS, MiB", "VmRSS", 2),
        ("RssAnon, MiB", "RssAnon", 2),
        ("RssFile, MiB", "RssFile", 2),
        ("threads", "Threads", 0),
        ("CPU, % of a core (utime+stime, 10 ms ticks)", "cpu_ticks", 3),
        ("CPU, % of a core (schedstat, ns)", "cpu_ns", 3),
        ("datagrams sent per second", "dg", 2),
        ("bytes sent per second (UDP payload)", "bytes", 1),
        ("bytes per datagram", "per_dg", 1),
    ]

    def table(left, left_label):
        out = [
            f"| per process | {left_label} | plain foca (foca-baseline), {len(base_rows)} | herd / foca (medians) |",
            "|---|---|---|---|",
        ]
        for label, key, digits in figures:
            hm, hs = summary([r[key] for r in left], digits)
            bm, bs = summary([r[key] for r in base_rows], digits)
            out.append(f"| {label} | {hs} | {bs} | {ratio(hm, bm)} |")
        return "\n".join(out)

    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    print_header(cmd)
    print(f"{n} herd agents and {n} foca-baseline processes on loopback, both clusters at once; "
          f"settle {args.settle:g} s, window {span:.1f} s; medians (min to max) over processes. "
          f"The machine was {busy_percent(machine0, machine1):.1f} % busy during the window "
          f"(all {os.cpu_count()} cores; these {2 * n} processes together "
          f"{sum(r['cpu_ns'] for r in rows.values()) / os.cpu_count():.2f} %).")
    print()
    print(table(herd_rows, f"herd, {len(herd_rows)}"))
    lease_rows = [(name, rows[name]) for name, _p in herd if rows[name]["lease"]]
    quiet = [rows[name] for name, _p in herd if not rows[name]["lease"]]
    print()
    if quiet and lease_rows:
        print("Without the lease: the herd agents that neither renewed nor witnessed a lease in the window "
              f"({len(quiet)} of {n}; left out: "
              + ", ".join(f"{name} {'holder' if r['lease_sent'] else 'witness'} "
                          f"{r['dg']:.1f} dg/s {r['bytes']:.0f} B/s" for name, r in lease_rows)
              + "):")
        print()
        print(table(quiet, f"herd, {len(quiet)}"))
        print()
    notes = []
    if lease_rows and not quiet:
        notes.append("every herd agent renewed or witnessed the lease in the window (no table without it)")
    if thread_churn:
        notes.append("threads started or ended during the window in " + ", ".join(thread_churn)
                     + " (the schedstat CPU counts only threads alive at both ends)")
    if not still_formed:
        notes.append("a cluster was no longer whole at the end of the window")
    for note in notes:
        print(f"note: {note}")
    # Per-process rows for the record (stderr keeps stdout to the tables).
    print("\nper process: name VmRSS RssAnon RssFile threads cpu_ticks% cpu_ns% dg/s B/s B/dg", file=sys.stderr)
    for name, _p in everyone:
        r = rows[name]
        print(f"  {name} {r['VmRSS']:.2f} {r['RssAnon']:.2f} {r['RssFile']:.2f} {r['Threads']} "
              f"{r['cpu_ticks']:.3f} {r['cpu_ns']:.4f} {r['dg']:.2f} {r['bytes']:.1f} {r['per_dg']:.1f}"
              + ("  lease" if r.get("lease") else ""), file=sys.stderr)


def print_header(cmd):
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    built = datetime.datetime.fromtimestamp(os.path.getmtime(HERD), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    print()
    print(f"command: {cmd}")
    print(f"date:    {date}")
    print(f"commit:  {rev}" + (" (working tree modified)" if dirty else ""))
    print(f"herd:    {os.path.relpath(HERD, ROOT)} built {built}; {os.cpu_count()} cores")
    print(f"load:    {open('/proc/loadavg').read().split()[0]} (1-minute load average at the end)")
    print()


# --- wrk mode --------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /health {{ return 200 "ok"; }}
    }}
}}
"""


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99_ms = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
    return rps, p99_ms, errors.group(0) if errors else None


def wrk_mode(args, tmp):
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y nginx-light wrk")
    herd = start_herd(3, tmp)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=tmp, port=NGINX_PORT))
    nginx = spawn("nginx", ["nginx", "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", conf, "-g", "daemon off;"], tmp)
    everyone = herd + [("nginx", nginx)]
    wait_until(lambda: herd_formed(3), args.form_timeout, "3 herd agents to see 3 alive", everyone, tmp)
    wait_until(lambda: try_get(NGINX_PORT, "/health") == "ok", 20, "nginx up", everyone, tmp)
    time.sleep(args.settle)
    target = 1
    role = json.loads(http_get(HERD_HTTP + target, "/health")).get("role")
    herd_url = f"http://127.0.0.1:{HERD_HTTP + target}/health"
    nginx_url = f"http://127.0.0.1:{NGINX_PORT}/health"
    body_herd = len(http_get(HERD_HTTP + target, "/health"))
    results = {"nginx": [], "herd": []}
    errors = []
    idle_busy = []  # % of the machine busy in the second before each wrk run
    for rnd in range(args.rounds):
        for label, url in (("nginx", nginx_url), ("herd", herd_url)):
            check_alive(everyone, tmp)
            before = cpu_times()
            time.sleep(1)
            idle_busy.append(busy_percent(before, cpu_times()))
            out = run_tracked(["wrk", "-t1", "-c64", f"-d{args.wrk_duration}", "--latency", url])
            rps, p99, err = parse_wrk(out)
            results[label].append((rps, p99))
            if err:
                errors.append(f"round {rnd + 1} {label}: {err}")
            print(f"round {rnd + 1} {label}: {rps:,.0f} req/s, p99 {p99:.2f} ms", file=sys.stderr)
    check_alive(everyone, tmp)
    still = herd_formed(3)

    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    print_header(cmd)
    print(f"`wrk -t1 -c64 -d{args.wrk_duration} --latency`, {args.rounds} rounds each, interleaved "
          f"(nginx, herd, ...); herd: agent h{target} ({role}) of a gossiping 3-agent cluster, "
          f"default configuration, /health body {body_herd} bytes of JSON; nginx {nginx_version()}: "
          f"one worker, `return 200 \"ok\"`.")
    print()
    print("| /health | herd | nginx, one worker | herd / nginx (medians) |")
    print("|---|---|---|---|")
    hm, hs = summary([r for r, _ in results["herd"]], 0)
    nm, ns = summary([r for r, _ in results["nginx"]], 0)
    print(f"| requests per second | {hs} | {ns} | {ratio(hm, nm)} |")
    hm, hs = summary([p for _, p in results["herd"]], 2)
    nm, ns = summary([p for _, p in results["nginx"]], 2)
    print(f"| p99 latency, ms | {hs} | {ns} | {ratio(hm, nm)} (herd - nginx: {hm - nm:+.2f} ms) |")
    print()
    print("rounds: " + "; ".join(
        f"{i + 1}: nginx {results['nginx'][i][0]:,.0f} req/s {results['nginx'][i][1]:.2f} ms, "
        f"herd {results['herd'][i][0]:,.0f} req/s {results['herd'][i][1]:.2f} ms" for i in range(args.rounds)))
    print()
    print("machine busy in the second before each wrk run (all cores, the cluster gossiping): "
          + ", ".join(f"{b:.1f} %" for b in idle_busy))
    for e in errors:
        print(f"note: {e}")
    if not still:
        print("note: the herd cluster was no longer whole after the rounds")


def nginx_version():
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return out.split("/", 1)[-1] if "/" in out else out


# --- main ------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10, help="processes of each kind (default 10)")
    parser.add_argument("--window", type=float, default=60, help="measurement window, seconds (default 60)")
    parser.add_argument("--settle", type=float, default=10, help="seconds after forming before measuring (default 10)")
    parser.add_argument("--form-timeout", type=float, default=120, help="seconds to wait for the clusters (default 120)")
    parser.add_argument("--wrk", action="store_true", help="the /health throughput comparison with nginx instead")
    parser.add_argument("--rounds", type=int, default=3, help="--wrk: rounds of each (default 3)")
    parser.add_argument("--wrk-duration", default="10s", help="--wrk: wrk's -d (default 10s)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    parser.add_argument("--herd", help="herd binary to measure (default target/release/herd; implies no build of it)")
    args = parser.parse_args()
    if not 1 <= args.n <= 1000:
        parser.error("N must be 1 to 1000 (each kind of process has 1,000 ports)")
    global HERD
    if args.herd:
        HERD = os.path.abspath(args.herd)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(cleanup)

    ensure_built(args.no_build)
    tmp = tempfile.mkdtemp(prefix="herd-footprint-")
    TEMP_DIRS.append(tmp)
    try:
        if args.wrk:
            wrk_mode(args, tmp)
        else:
            footprint(args, tmp)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
