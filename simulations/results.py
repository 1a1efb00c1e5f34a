#!/usr/bin/env python3
"""Runs every scenario of simulations/ at its default seed and size and
prints the rows of the results table in simulations/README.md.

    simulations/results.py [BINARY] [SCENARIO ...]

BINARY defaults to target/release/herd; the scenarios to every
simulations/*.toml in the table's order. Python 3 standard library only.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = [
    "steady-state", "primary-crash", "loss-10", "partition", "slow-node",
    "slow-secondary", "slow-primary", "rolling-restart", "scale-out-in",
    "flapping-primary", "switch-reboot", "three-way-split",
    "one-way-into-primary",
]


def stats(s):
    if not s:
        return "-"
    return f"{s['median']:.2f} / {s['p99']:.2f} / {s['max']:.2f}"


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{min(values):.2f} to {max(values):.2f} ({len(values)})"


def row(binary, name):
    began = time.monotonic()
    out = subprocess.run(
        [binary, "simulate", str(ROOT / "simulations" / f"{name}.toml"), "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    wall = time.monotonic() - began
    data = json.loads(out)
    r = data["report"]
    faults = [f for f in r["faults"] if f["kind"] != "heal"]
    heals = [f for f in r["faults"] if f["kind"] == "heal"]
    first = [f["first_detection_s"] for f in faults]
    every = [f["detection"]["max"] if f["detection"] and f["detected"] == f["observers"] else None
             for f in faults]
    if any(v is not None for v in first):
        detection = f"{spread(first)} / {spread(every)}"
    else:
        detection = "-"
    s = r["safety"]
    t = r["traffic"]
    j = r["joins"]
    perf = data["performance"]
    return (
        f"| {name} | {r['nodes']} | {r['duration_s']:.0f} | {detection} | "
        f"{spread([f['failover_s'] for f in faults])} | "
        f"{spread([f['recovered_s'] for f in heals])} | "
        f"{s['false_positive_downs']} | {s['two_claimants_s']:.2f} | "
        f"{s['minority_claim_s']:.2f} | {s['no_primary_s']:.2f} | "
        f"{t['messages_per_node_s']:.2f} / {t['bytes_per_node_s']:.0f} | "
        f"{stats(j.get('seen'))} | {stats(j.get('converged'))} | "
        f"{len(r['breaches'])} | {perf['virtual_per_wall']:.1f} ({wall:.1f} s wall) |"
    )


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/herd")
    names = sys.argv[2:] or ORDER
    print("| scenario | nodes | virtual s | detection: first node / all nodes | failover "
          "| after heal | false-positive downs | two claimants | minority claims | no primary "
          "| datagrams / bytes per node per s | join: seen by every member | join: two-way "
          "| breaches | virtual s per wall s |")
    print("|" + "---|" * 15)
    for name in names:
        print(row(binary, name), flush=True)


if __name__ == "__main__":
    main()
