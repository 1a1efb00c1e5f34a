#!/usr/bin/env bash
# /health of one agent under 1,000 keep-alive connections while another
# agent of the cluster is killed (SIGKILL) and restarted in a loop (issue
# 15): wrk's errors, latency distribution and maximum.
#
#   cargo build --release
#   benches/health-under-restarts.sh [CONNECTIONS] [SECONDS]
#   HERD=/path/to/herd benches/health-under-restarts.sh   # another build
#
# Five agents on loopback (gossip 24101-24105, HTTP 24201-24205, admin
# 24301-24305); wrk -t1 against agent 2's /health; agent 5 is killed every
# 2.5 s and restarted a second later. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-1000}
secs=${2:-30}
bin=${HERD:-target/release/herd}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
dir=$(mktemp -d)
ulimit -n 65536 2>/dev/null || true
start() {
  local i=$1 join=()
  [ "$i" -gt 1 ] && join=(--join 127.0.0.1:24101)
  "$bin" agent --name "k$i" --bind "127.0.0.1:2410$i" --http "127.0.0.1:2420$i" \
    --admin "127.0.0.1:2430$i" --data-dir "$dir/k$i" "${join[@]}" >>"$dir/k$i.log" 2>&1 &
  echo $! >"$dir/k$i.pid"
}
stop_all() {
  for i in 1 2 3 4 5; do kill -9 "$(cat "$dir/k$i.pid" 2>/dev/null)" 2>/dev/null || true; done
  [ -n "${loop:-}" ] && kill "$loop" 2>/dev/null || true
  rm -rf "$dir"
}
trap stop_all EXIT
for i in 1 2 3 4 5; do start "$i"; done
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:24205/health >/dev/null 2>&1 && break
  sleep 0.1
done
rounds=$((secs * 2 / 5))
( for _ in $(seq 1 "$rounds"); do
    kill -9 "$(cat "$dir/k5.pid")" 2>/dev/null || true
    wait "$(cat "$dir/k5.pid")" 2>/dev/null || true
    sleep 1; start 5; sleep 1.5
  done ) &
loop=$!
echo "date: $(date -u)  commit: $(git rev-parse --short HEAD)  connections: $conns  seconds: $secs  restarts of k5: $rounds"
wrk -t1 -c"$conns" -d"${secs}s" --latency http://127.0.0.1:24202/health
