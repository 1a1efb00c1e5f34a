#!/usr/bin/env python3
"""Compares the simulator's safety figures of two herd binaries.

A change to the core must not add time with two primaries, a failback or
a false down in any scenario (README.md, "Safety first"). This tool runs
every scenario and every found schedule with one binary, writes one line
per run, and diffs two such files:

    simulations/compare.py run OLD_BINARY /tmp/old.txt
    simulations/compare.py run NEW_BINARY /tmp/new.txt
    simulations/compare.py diff /tmp/old.txt /tmp/new.txt

`run --seeds fixed` (the default) runs every scenario at its own seed and
at seed 2 (scenarios of more than 200 nodes at their own seed only) and
every found schedule at its own seed: the digests show whether the change
moved anything at all. `run --seeds sweep` runs seeds 1 to 5 of every
scenario of at most 200 nodes and every found schedule: more random paths,
for the totals. Only the standard library; run from the project's root.
"""

import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys

SAFETY = re.compile(
    r"two claimants ([\d.]+)s, minority claims ([\d.]+)s, split brain ([\d.]+)s, "
    r"no primary ([\d.]+)s, false-positive downs (\d+)"
)
FIGURES = ["two claimants", "minority claims", "split brain", "no primary", "false downs"]
# The figures no change may raise; "no primary" is liveness, reported apart.
GUARDED = ["two claimants", "minority claims", "split brain", "false downs"]
BIG = 200


def nodes_of(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*nodes\s*=\s*(\d+)", line)
            if m:
                return int(m.group(1))
    return 0


def runs(seeds):
    scenarios = sorted(glob.glob("simulations/*.toml"))
    found = sorted(glob.glob("simulations/found/*.toml"))
    if not scenarios:
        sys.exit("compare.py: no simulations/*.toml here; run it from the project's root")
    out = []
    for path in scenarios:
        big = nodes_of(path) > BIG
        if seeds == "fixed":
            out.append((path, None))
            if not big:
                out.append((path, 2))
        elif not big:
            out.extend((path, s) for s in range(1, 6))
    for path in found:
        if seeds == "fixed":
            out.append((path, None))
        else:
            out.extend((path, s) for s in range(1, 6))
    return out


def simulate(binary, path, seed):
    args = [binary, "simulate", path] + ([] if seed is None else ["--seed", str(seed)])
    done = subprocess.run(args, capture_output=True, text=True)
    text = done.stdout + done.stderr

    def line(prefix):
        for row in text.splitlines():
            if row.startswith(prefix):
                return row
        return f"{prefix} (missing; exit {done.returncode})"

    seed_name = "own" if seed is None else str(seed)
    return f"{path} {seed_name} | {line('safety:')} | {line('invariants:')} | {line('digest:')}"


def run(args):
    todo = runs(args.seeds)
    binary = os.path.abspath(args.binary)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        lines = list(pool.map(lambda r: simulate(binary, *r), todo))
    with open(args.out, "w") as f:
        for row in lines:
            f.write(row + "\n")
    print(f"{len(lines)} runs written to {args.out}")


def load(path):
    rows = {}
    with open(path) as f:
        for row in f:
            parts = row.rstrip("\n").split(" | ")
            if len(parts) == 4:
                rows[parts[0]] = parts[1:]
    return rows


def figures(safety):
    m = SAFETY.search(safety)
    if not m:
        return None
    return dict(zip(FIGURES, [float(g) for g in m.groups()]))


def diff(args):
    old, new = load(args.old), load(args.new)
    totals = {"old": dict.fromkeys(FIGURES, 0.0), "new": dict.fromkeys(FIGURES, 0.0)}
    breached = {"old": 0, "new": 0}
    identical = digest_only = 0
    worse = []
    for key in sorted(set(old) & set(new)):
        o, n = old[key], new[key]
        fo, fn = figures(o[0]), figures(n[0])
        if fo is None or fn is None:
            print(f"{key}: no safety line ({o[0]!r} / {n[0]!r})")
            continue
        for side, f, row in (("old", fo, o), ("new", fn, n)):
            for name in FIGURES:
                totals[side][name] += f[name]
            breached[side] += "all held" not in row[1]
        if o == n:
            identical += 1
            continue
        if o[:2] == n[:2]:
            digest_only += 1
            continue
        print(key)
        if o[0] != n[0]:
            print(f"    old {o[0]}\n    new {n[0]}")
        if o[1] != n[1]:
            print(f"    invariants: old {o[1]!r}, new {n[1]!r}")
        for name in GUARDED:
            if fn[name] > fo[name] + 1e-9:
                worse.append(f"{key}: {name} {fo[name]:g} -> {fn[name]:g}")
    for key in sorted(set(old) ^ set(new)):
        print(f"{key}: in one file only")
    both = len(set(old) & set(new))
    print(f"\n{both} runs: {identical} identical, {digest_only} with other digests but the same figures")
    for side in ("old", "new"):
        t = totals[side]
        print(
            f"{side}: two claimants {t['two claimants']:.2f} s, minority claims {t['minority claims']:.2f} s, "
            f"split brain {t['split brain']:.2f} s, no primary {t['no primary']:.1f} s, "
            f"false downs {t['false downs']:.0f}; runs with a breached invariant {breached[side]}"
        )
    if worse:
        print("\nworse in a guarded figure (two claimants, minority claims, split brain, false downs):")
        for row in worse:
            print("    " + row)
    else:
        print("\nno guarded figure is worse in any run")
    return 1 if worse else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run every scenario and found schedule with one binary")
    r.add_argument("binary")
    r.add_argument("out")
    r.add_argument("--seeds", choices=["fixed", "sweep"], default="fixed")
    r.add_argument("--jobs", type=int, default=1, help="simulations at once (default 1)")
    d = sub.add_parser("diff", help="compare two files written by run")
    d.add_argument("old")
    d.add_argument("new")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
        return 0
    return diff(args)


if __name__ == "__main__":
    sys.exit(main())
