#!/usr/bin/env bash
# Takeover time on three hosts in network namespaces, herd against
# keepalived, side by side in one run on the same topology: how long the
# cluster has no primary after the primary is SIGKILLed.
#
#   herd        3 agents, one per host, with the primary's lease
#               (`[gossip] lease = LEASE`; 0s is SWIM alone). Done when a
#               survivor answers 200 on /health/primary.
#   keepalived  3 instances, one per host, VRRP with unicast peers,
#               advert_int 1, priorities 150/100/50, a virtual IP on the
#               hosts' subnet. Done when a survivor holds the virtual IP.
#
# Each round starts a fresh cluster of each, waits until exactly one host
# holds the role (and, for herd with a lease, claims under it), waits
# SETTLE seconds plus a random fraction of one (so the kill falls at any
# point of keepalived's 1 s advert cycle and of herd's renewals, rather than
# at one start-up-fixed phase), SIGKILLs the holder (keepalived: its whole process group)
# and times until a survivor holds the role. The timing is done by a small
# python3 poller: one thread per survivor enters that host's namespace
# (setns(2), as tests/support/netns.rs does) and polls it there every 10 ms
# (herd: a GET of its own address, over the host's loopback; keepalived: a
# bind(2) to the virtual IP, which succeeds once the address is local); the
# same process sends the SIGKILL, so no process start-up is in the timing.
#
#   sudo benches/takeover-netns.sh 600ms          # lease = "600ms" (default)
#   sudo ROUNDS=3 benches/takeover-netns.sh 0s    # SWIM alone
#
# Environment: ROUNDS (default 5), SETTLE (seconds, default 3), HERD (the
# binary, default target/release/herd of this repository; build it first).
# Needs root, iproute2 (ip netns), curl, python3 and awk; keepalived is
# optional (apt-get install -y keepalived), without it herd alone is
# measured.
#
# Topology (the root namespace gets no link, address or route):
#   herdb-PID-sw        bridge br0 with ports p1..p3, no address
#   herdb-PID-n1..n3    lo and eth0 = 198.18.1.I/24, the peer of port pI
# 198.18.1.100 is keepalived's virtual IP. Every namespace, link and
# process the script makes is removed on exit, failure or interrupt.
set -euo pipefail

lease=${1:-600ms}
rounds=${ROUNDS:-5}
settle=${SETTLE:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${HERD:-$repo/target/release/herd}
hosts=3
subnet=198.18.1
vip=$subnet.100
prefix=herdb-$$
switch=$prefix-sw
interval=0.01 # seconds between polls of one host during a takeover
timeout=60    # seconds a takeover may take before the round fails

die() { echo "takeover-netns: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces): sudo $0 $*"
for tool in ip curl python3 awk setsid; do
  command -v "$tool" > /dev/null || die "needs $tool"
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number"
[[ $settle =~ ^[0-9]+$ ]] || die "SETTLE must be whole seconds"
[ -x "$bin" ] || die "no herd binary at $bin (cargo build --release, or set HERD)"
keepalived=$(command -v keepalived || true)
case $lease in
  0 | 0s | 0ms) leased=false ;;
  *) leased=true ;;
esac

dir=$(mktemp -d /tmp/herdb.XXXXXX)
namespaces=() # made so far, the switch first
# Daemons start detached (setsid -f: a session of their own, reparented
# away from this shell, which then prints no "Killed" for them); what runs
# in a host's namespace is that host's daemon.

# The processes inside namespace $1.
inside() { ip netns pids "$1" 2> /dev/null || true; }

# SIGKILLs whatever still runs inside namespace $1.
kill_inside() {
  local pid
  for pid in $(inside "$1"); do
    kill -9 "$pid" 2> /dev/null || true
  done
}

# SIGKILLs every daemon on every host and waits until they are gone.
stop_all() {
  local ns busy _
  for ns in "${namespaces[@]:1}"; do kill_inside "$ns"; done
  for _ in $(seq 1 100); do
    busy=false
    for ns in "${namespaces[@]:1}"; do [ -z "$(inside "$ns")" ] || busy=true; done
    $busy || return 0
    sleep 0.02
  done
  echo "takeover-netns: daemons still running after SIGKILL" >&2
}

# The --kill arguments that end everything running on host $1: each process
# group (negative), then each process.
kill_args() {
  local pids pgid pid
  pids=$(inside "$(host_ns "$1")")
  [ -n "$pids" ] || return 0
  for pgid in $(ps -o pgid= -p "$(echo "$pids" | paste -sd,)" | sort -u); do
    printf -- '--kill\n-%s\n' "$pgid"
  done
  for pid in $pids; do printf -- '--kill\n%s\n' "$pid"; done
}

cleanup() {
  local i
  set +e
  [ "${#namespaces[@]}" -gt 1 ] && stop_all
  # Hosts first (their veth pairs go with them), then the switch.
  for ((i = ${#namespaces[@]} - 1; i >= 0; i--)); do
    kill_inside "${namespaces[i]}"
    ip netns del "${namespaces[i]}" || echo "could not delete ${namespaces[i]}" >&2
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of a run of this script that was killed before its trap ran.
for ns in $(ip netns list | awk '{ print $1 }'); do
  [[ $ns =~ ^herdb-([0-9]+)- ]] || continue
  [ -d "/proc/${BASH_REMATCH[1]}" ] && continue
  echo "removing $ns, left by process ${BASH_REMATCH[1]}" >&2
  kill_inside "$ns"
  ip netns del "$ns" || true
done

host_ns() { echo "$prefix-n$1"; }
addr() { echo "$subnet.$1"; }

# --- topology ---------------------------------------------------------
ip netns add "$switch"
namespaces+=("$switch")
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
for i in $(seq 1 "$hosts"); do
  ns=$(host_ns "$i")
  ip netns add "$ns"
  namespaces+=("$ns")
  ip -n "$switch" link add "p$i" type veth peer name eth0 netns "$ns"
  ip -n "$switch" link set "p$i" master br0
  ip -n "$switch" link set "p$i" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(addr "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
done

# --- the poller ---------------------------------------------------------
# python3 race.py --kill PID [--kill PID...] NS=http:URL|NS=vip:ADDR...
# Every target gets a thread inside its namespace, which probes once (a
# target that already holds the role makes the round invalid: exit 2);
# then the main thread SIGKILLs each --kill (negative: a process group) and
# the threads poll every --interval. Prints the seconds from the kill to
# the first success, the winner, how many targets held the role at one
# more probe of each right after, and the mean cost of one probe in ms.
cat > "$dir/race.py" << 'EOF'
import argparse, ctypes, http.client, os, signal, socket, sys, threading, time
from urllib.parse import urlsplit

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000

def enter(ns):
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns " + ns + ": " + os.strerror(err))
    finally:
        os.close(fd)

def http_probe(url):
    parts = urlsplit(url)
    def probe():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=0.2)
        try:
            conn.request("GET", parts.path)
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            conn.close()
    return probe

def vip_probe(address):
    def probe():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((address, 0))
                return True
            except OSError:
                return False
    return probe

ap = argparse.ArgumentParser()
ap.add_argument("--kill", type=int, action="append", required=True)
ap.add_argument("--interval", type=float, default=0.01)
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("targets", nargs="+")
args = ap.parse_args()

ready = threading.Barrier(len(args.targets) + 1)
go = threading.Event()
done = threading.Event()
lock = threading.Lock()
t0 = [0.0]
first = []
pre, last, polls, cost = {}, {}, [0], [0.0]

def watch(target):
    ns, spec = target.split("=", 1)
    kind, what = spec.split(":", 1)
    try:
        enter(ns)
        probe = http_probe(what) if kind == "http" else vip_probe(what)
        pre[ns] = probe()
    finally:
        ready.wait()
    go.wait()
    k = 0
    while not done.is_set():
        start = time.monotonic()
        ok = probe()
        end = time.monotonic()
        with lock:
            polls[0] += 1
            cost[0] += end - start
            if ok and not first:
                first.append((end - t0[0], ns))
                done.set()
        if end - t0[0] > args.timeout:
            done.set()
        k += 1
        time.sleep(max(0.0, t0[0] + k * args.interval - time.monotonic()))
    last[ns] = probe()

threads = [threading.Thread(target=watch, args=(t,), daemon=True) for t in args.targets]
for t in threads:
    t.start()
ready.wait()
if len(pre) != len(args.targets) or any(pre.values()):
    print("invalid: before the kill, held by", [ns for ns, v in pre.items() if v])
    go.set(); done.set()
    sys.exit(2)
for pid in args.kill:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
t0[0] = time.monotonic()
go.set()
for t in threads:
    t.join()
if not first:
    print("timeout")
    sys.exit(1)
elapsed, winner = first[0]
print("%.3f %s %d %.2f" % (elapsed, winner, sum(last.values()), 1000 * cost[0] / polls[0]))
EOF
# SETTLE seconds and a random fraction of one.
pause() { sleep "$settle.$(printf '%03d' $((RANDOM % 1000)))"; }

race() { python3 "$dir/race.py" --interval "$interval" --timeout "$timeout" "$@"; }

# --- herd -------------------------------------------------------------
printf '[gossip]\nlease = "%s"\n' "$lease" > "$dir/herd.toml"

# GET http://ADDR:7947$2 on host $1 from inside its namespace: the status.
herd_get() {
  ip netns exec "$(host_ns "$1")" curl -s -m 0.2 -o /dev/null -w '%{http_code}' \
    "http://$(addr "$1"):7947$2" || true
}

# Whether host $1's /v1/primary says it claims under a lease.
herd_leased() {
  ip netns exec "$(host_ns "$1")" curl -s -m 0.2 "http://$(addr "$1"):7947/v1/primary" \
    | tr -d ' \n' | grep -q '"lease":true'
}

herd_times=()
herd_costs=()
herd_round() {
  local round=$1 i primary claimants out t winner held poll
  local -a join kill
  for i in $(seq 1 "$hosts"); do
    join=()
    [ "$i" -gt 1 ] && join=(--join "$(addr 1):7946")
    setsid -f ip netns exec "$(host_ns "$i")" "$bin" agent --name "n$i" \
      --bind "$(addr "$i"):7946" --http "$(addr "$i"):7947" --admin 127.0.0.1:7948 \
      --config "$dir/herd.toml" "${join[@]}" < /dev/null >> "$dir/herd-n$i.log" 2>&1
    sleep 0.3
  done
  primary=""
  for _ in $(seq 1 150); do
    claimants=0
    for i in $(seq 1 "$hosts"); do
      if [ "$(herd_get "$i" /health/primary)" = 200 ]; then
        primary=$i
        claimants=$((claimants + 1))
      fi
    done
    if [ "$claimants" = 1 ] && { ! $leased || herd_leased "$primary"; }; then break; fi
    primary=""
    sleep 0.2
  done
  if [ -z "$primary" ]; then
    tail -n 5 "$dir"/herd-n*.log >&2
    die "herd round $round: no single primary (with a lease: under it) in 30 s"
  fi
  pause
  local targets=()
  for i in $(seq 1 "$hosts"); do
    [ "$i" = "$primary" ] || targets+=("$(host_ns "$i")=http:http://$(addr "$i"):7947/health/primary")
  done
  mapfile -t kill < <(kill_args "$primary")
  [ "${#kill[@]}" -gt 0 ] || die "herd round $round: the agent of n$primary is gone"
  out=$(race "${kill[@]}" "${targets[@]}") || die "herd round $round: $out"
  read -r t winner held poll <<< "$out"
  echo "herd (lease $lease) round $round: n$primary killed, ${winner##*-} answered 200 after $t s ($held claimant(s) right after)"
  herd_times+=("$t")
  herd_costs+=("$poll")
  stop_all
}

# --- keepalived -------------------------------------------------------
# keepalived.conf of host $1 with priority $2.
keepalived_conf() {
  local i=$1 j
  cat << EOF
global_defs {
  router_id n$i
}
vrrp_instance herdb {
  state $([ "$i" = 1 ] && echo MASTER || echo BACKUP)
  interface eth0
  virtual_router_id 51
  priority $2
  advert_int 1
  unicast_src_ip $(addr "$i")
  unicast_peer {
EOF
  for j in $(seq 1 "$hosts"); do
    [ "$j" = "$i" ] || echo "    $(addr "$j")"
  done
  cat << EOF
  }
  virtual_ipaddress {
    $vip/24 dev eth0
  }
}
EOF
}

holds_vip() { ip -n "$(host_ns "$1")" -o addr show dev eth0 | grep -q " $vip/"; }

keepalived_times=()
keepalived_costs=()
priorities=(0 150 100 50)
keepalived_round() {
  local round=$1 i master holders out t winner held poll
  local -a kill
  for i in $(seq 1 "$hosts"); do
    keepalived_conf "$i" "${priorities[i]}" > "$dir/keepalived-n$i.conf"
    setsid -f ip netns exec "$(host_ns "$i")" "$keepalived" -n -l -D -G -P \
      -f "$dir/keepalived-n$i.conf" -p "$dir/keepalived-n$i.pid" \
      -r "$dir/keepalived-n$i-vrrp.pid" -c "$dir/keepalived-n$i-checkers.pid" \
      < /dev/null >> "$dir/keepalived-n$i.log" 2>&1
  done
  master=""
  for _ in $(seq 1 150); do
    holders=0
    for i in $(seq 1 "$hosts"); do
      if holds_vip "$i"; then
        master=$i
        holders=$((holders + 1))
      fi
    done
    [ "$holders" = 1 ] && break
    master=""
    sleep 0.2
  done
  if [ -z "$master" ]; then
    tail -n 5 "$dir"/keepalived-n*.log >&2
    die "keepalived round $round: no single master in 30 s"
  fi
  pause
  local targets=()
  for i in $(seq 1 "$hosts"); do
    [ "$i" = "$master" ] || targets+=("$(host_ns "$i")=vip:$vip")
  done
  # The whole process group (the parent and its VRRP child) at once, so no
  # process lives to send a priority-0 advert.
  mapfile -t kill < <(kill_args "$master")
  [ "${#kill[@]}" -gt 0 ] || die "keepalived round $round: the keepalived of n$master is gone"
  out=$(race "${kill[@]}" "${targets[@]}") || die "keepalived round $round: $out"
  read -r t winner held poll <<< "$out"
  echo "keepalived round $round: n$master killed, ${winner##*-} holds $vip after $t s ($held holder(s) right after)"
  keepalived_times+=("$t")
  keepalived_costs+=("$poll")
  stop_all
  # A SIGKILLed keepalived leaves its virtual IP on the interface.
  for i in $(seq 1 "$hosts"); do
    ip -n "$(host_ns "$i")" addr del "$vip/24" dev eth0 2> /dev/null || true
  done
}

# --- rounds -------------------------------------------------------------
echo "$hosts hosts behind switch $switch, $subnet.0/24; herd $bin, lease $lease; settle $settle to $((settle + 1)) s; polls every ${interval} s inside each namespace"
echo "$(nproc) cores, load average $(cut -d ' ' -f 1-3 /proc/loadavg) at the start"
if [ -n "$keepalived" ]; then
  echo "$("$keepalived" --version 2>&1 | head -n 1), advert_int 1, priorities ${priorities[*]:1}, virtual IP $vip"
else
  echo "keepalived not found (apt-get install -y keepalived): measuring herd only"
fi
for round in $(seq 1 "$rounds"); do
  herd_round "$round"
  [ -z "$keepalived" ] || keepalived_round "$round"
done

# Prints the median of its arguments; with a label, "LABEL: median ...".
summary() {
  local label=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v label="$label" '
    { t[NR] = $1 }
    END {
      m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      if (label == "") printf "%.3f\n", m
      else printf "%s: median %.3f s (%.3f to %.3f, %d rounds)\n", label, m, t[1], t[NR], NR
    }'
}
summary "herd (lease $lease)" "${herd_times[@]}"
echo "  one poll of /health/primary (HTTP, new connection) cost median $(summary "" "${herd_costs[@]}") ms"
if [ -n "$keepalived" ]; then
  summary keepalived "${keepalived_times[@]}"
  echo "  one poll of the virtual IP (bind) cost median $(summary "" "${keepalived_costs[@]}") ms"
  awk -v k="$(summary "" "${keepalived_times[@]}")" -v h="$(summary "" "${herd_times[@]}")" \
    'BEGIN { printf "ratio keepalived/herd: %.1f\n", k / h }'
fi
