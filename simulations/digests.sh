#!/usr/bin/env bash
# Records the digest of every run a refactor must not change, so two builds
# can be compared line by line: every scenario here and in found/ at its
# default seed and seeds 2 and 3, and 500 generated schedules.
#
#   simulations/digests.sh [--fast] BINARY > digests.txt
#   (build, change, build again) ... then: diff before.txt after.txt
#
# --fast: found/ and the small scenarios at their default seed only (about
# 15 s); the whole set takes about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [ "${1:-}" = --fast ]; then fast=true; shift; fi
bin=${1:?usage: simulations/digests.sh [--fast] BINARY}
if $fast; then
  files="simulations/found/*.toml simulations/flapping-primary.toml simulations/three-way-split.toml simulations/switch-reboot.toml simulations/one-way-into-primary.toml simulations/slow-node.toml simulations/rolling-restart.toml"
  seeds="default"
else
  files="simulations/*.toml simulations/found/*.toml"
  seeds="default 2 3"
fi
for f in $files; do
  for s in $seeds; do
    if [ "$s" = default ]; then args=(); else args=(--seed "$s"); fi
    echo "$f $s $("$bin" simulate "$f" "${args[@]}" 2>/dev/null | grep -o '^digest: [0-9a-f]*')"
  done
done
"$bin" simulate --swarm 400 --seed 1 --max-nodes 24 2>/dev/null | grep -o '^#[0-9]* .*digest [0-9a-f]*' | sed 's/wall *[0-9.]*s//'
"$bin" simulate --swarm 100 --seed 2 --max-nodes 60 2>/dev/null | grep -o '^#[0-9]* .*digest [0-9a-f]*' | sed 's/wall *[0-9.]*s//; s/^/s2 /'
