#!/usr/bin/env bash
# Takeover time of real agents on loopback: N agents, SIGKILL of the
# primary, time until one survivor answers 200 on /health/primary (polled
# every 10 ms). Run once with the lease and once without, side by side:
#
#   cargo build --release
#   benches/takeover-loopback.sh 600ms 5     # lease = "600ms", 5 rounds
#   benches/takeover-loopback.sh 0s 5        # SWIM alone
#
# Environment: N (agents, default 3), SETTLE (seconds between the first
# primary and the kill, default 3), BASE (first port, default 17000).
# Prints one line per round and the median. Needs curl and bc.
set -euo pipefail
lease=${1:?usage: benches/takeover-loopback.sh LEASE [ROUNDS]}
rounds=${2:-5}
n=${N:-3}
settle=${SETTLE:-3}
base=${BASE:-17000}
bin="$(dirname "$0")/../target/release/herd"
dir=$(mktemp -d)
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
printf '[gossip]\nlease = "%s"\n' "$lease" > "$dir/herd.toml"

status() { curl -s -m 0.2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 1000 + $1))/health/primary" || true; }

times=()
for round in $(seq 1 "$rounds"); do
  pids=()
  for i in $(seq 1 "$n"); do
    join=()
    [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$((base + 1))")
    "$bin" agent --name "n$i" --bind "127.0.0.1:$((base + i))" \
      --http "127.0.0.1:$((base + 1000 + i))" --admin "127.0.0.1:$((base + 2000 + i))" \
      "${join[@]}" --config "$dir/herd.toml" > "$dir/n$i.log" 2>&1 &
    pids+=($!)
    sleep 0.3
  done
  primary=""
  for _ in $(seq 1 150); do
    claimants=0
    for i in $(seq 1 "$n"); do
      if [ "$(status "$i")" = 200 ]; then primary=$i; claimants=$((claimants + 1)); fi
    done
    [ "$claimants" = 1 ] && break
    sleep 0.2
  done
  [ -n "$primary" ] || { echo "round $round: no primary"; exit 1; }
  sleep "$settle"
  kill -9 "${pids[$((primary - 1))]}"
  start=$(date +%s.%N)
  while :; do
    claimants=0
    for i in $(seq 1 "$n"); do
      [ "$i" = "$primary" ] && continue
      [ "$(status "$i")" = 200 ] && claimants=$((claimants + 1))
    done
    now=$(date +%s.%N)
    if [ "$claimants" -ge 1 ]; then
      t=$(echo "$now - $start" | bc)
      echo "round $round: n$primary killed, $claimants claimant(s) after ${t} s"
      times+=("$t")
      break
    fi
    if [ "$(echo "$now - $start > 60" | bc)" = 1 ]; then echo "round $round: no takeover in 60 s"; exit 1; fi
    sleep 0.01
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
done
printf '%s\n' "${times[@]}" | sort -n | awk -v lease="$lease" -v n="$n" \
  '{ t[NR] = $1 } END { printf "lease %s, %d agents: median %.3f s (%.3f to %.3f, %d rounds)\n", lease, n, (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), t[1], t[NR], NR }'
