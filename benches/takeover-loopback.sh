#!/usr/bin/env bash
# Takeover time of real agents on loopback: N agents, SIGKILL of the
# primary, and two times from the kill:
#
#   first 200   the first instant a survivor answers 200 on /health/primary
#               (what a load balancer sees first);
#   all agree   the first instant every survivor names the same new primary
#               (not the killed node) and exactly one survivor, that one,
#               answers 200 on /health/primary.
#
# Each round starts a fresh cluster: agent 1, then the N-1 others at once,
# all joining through agent 1. It waits until every agent's /v1/members
# lists N alive members, exactly one agent's /v1/primary says is_primary
# (with a lease: "lease": true as well) and every agent names that one, then
# SETTLE seconds plus a random 0-999 ms (so the kill falls at a random phase
# of the renewals), checks the same steady state once more, SIGKILLs the
# primary and times the takeover. Wait, kill and timing are one embedded
# python3 program (stdlib only, no process start-up in the timing): every
# 10 ms it sends one GET /health/primary to every survivor at once over
# keep-alive HTTP/1.1 connections (non-blocking sockets and a selector, one
# thread) and takes the poll round when all have answered. The status is
# what a balancer sees; the body's "primary" is the same field of the same
# snapshot as /v1/primary's "primary", and its "role" must agree with the
# status (counted as a mismatch otherwise). The round that first meets
# "all agree" is confirmed by one poll of /v1/primary on every survivor
# (same primary, exactly one is_primary, the same node); a failed
# confirmation resumes the polling. Every poll round after the kill is
# checked for two survivors answering 200 at once, during the takeover and
# for TAIL seconds after "all agree" (which must hold throughout).
#
#   cargo build --release
#   benches/takeover-loopback.sh 600ms 5          # lease = "600ms", 5 rounds
#   N=50 benches/takeover-loopback.sh 600ms 5     # 50 agents
#   benches/takeover-loopback.sh 0s 5             # SWIM alone
#
# Environment: N (agents, 2 to 999, default 3), SETTLE (whole seconds
# between the steady state and the kill, plus 0-999 ms, default 3), TAIL
# (seconds of polling after "all agree", default 1), BASE (default 17000:
# agent I gossips on BASE+I, serves HTTP on BASE+1000+I and admin on
# BASE+2000+I, so up to 999 agents never collide), HERD (the binary,
# default target/release/herd of this repository; build it first).
# Prints the load average, one line per round and a summary with the
# medians and the cost of one poll round. Needs curl, python3 and awk.
set -euo pipefail

lease=${1:?usage: benches/takeover-loopback.sh LEASE [ROUNDS]}
rounds=${2:-5}
n=${N:-3}
settle=${SETTLE:-3}
tail_s=${TAIL:-1}
base=${BASE:-17000}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${HERD:-$repo/target/release/herd}
interval=0.01 # seconds between poll rounds during a takeover
timeout=60    # seconds a takeover may take before the round fails

die() { echo "takeover-loopback: $*" >&2; exit 1; }

for tool in curl python3 awk; do
  command -v "$tool" > /dev/null || die "needs $tool"
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number"
if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ] || [ "$n" -gt 999 ]; then die "N must be 2 to 999"; fi
[[ $settle =~ ^[0-9]+$ ]] || die "SETTLE must be whole seconds"
[[ $tail_s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "TAIL must be seconds"
if ! [[ $base =~ ^[0-9]+$ ]] || [ "$base" -lt 1024 ] || [ $((base + 2999)) -gt 65535 ]; then
  die "BASE must be 1024 to 62536 (ports BASE+1 to BASE+2999)"
fi
[ -x "$bin" ] || die "no herd binary at $bin (cargo build --release, or set HERD)"
case $lease in
  0 | 0s | 0ms) leased=false ;;
  *) leased=true ;;
esac

dir=$(mktemp -d /tmp/herd-loopback.XXXXXX)
pids=() # the agents of the current round, index I = agent nI
# SIGKILLs the agents and waits until they are gone. They are disowned
# when started, so the shell prints no "Killed" for them (the primary is
# SIGKILLed by the poller) and cannot wait(1) for them: poll /proc.
stop_agents() {
  local pid _
  [ "${#pids[@]}" -gt 0 ] || return 0
  kill -9 "${pids[@]}" 2> /dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 250); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.02
    done
  done
  pids=()
}
trap 'stop_agents; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
printf '[gossip]\nlease = "%s"\n' "$lease" > "$dir/herd.toml"

start_agent() {
  local i=$1
  local -a join=()
  if [ "$i" -gt 1 ]; then join=(--join "127.0.0.1:$((base + 1))"); fi
  "$bin" agent --name "n$i" --bind "127.0.0.1:$((base + i))" \
    --http "127.0.0.1:$((base + 1000 + i))" --admin "127.0.0.1:$((base + 2000 + i))" \
    "${join[@]}" --config "$dir/herd.toml" < /dev/null >> "$dir/n$i.log" 2>&1 &
  pids[i]=$!
  disown "$!"
}

# --- the poller ---------------------------------------------------------
# python3 race.py --base B --n N --leased true|false --settle S --tail T
#   --out FILE PID1 ... PIDN
# Waits for the steady state, sleeps, SIGKILLs the primary's PID and polls
# the survivors (see the header). Prints the round's line (without the
# "round R: " prefix) and writes "first all doubles poll_ms cpu_ms" to FILE.
# Exit 1: no steady state or no takeover in time (the reason is printed).
cat > "$dir/race.py" << 'EOF'
import argparse, json, os, random, selectors, signal, socket, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--base", type=int, required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--leased", choices=["true", "false"], required=True)
ap.add_argument("--settle", type=float, required=True)
ap.add_argument("--tail", type=float, default=1.0)
ap.add_argument("--interval", type=float, default=0.01)
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--steady-timeout", type=float, default=120)
ap.add_argument("--out", required=True)
ap.add_argument("pids", type=int, nargs="+")
args = ap.parse_args()
leased = args.leased == "true"
assert len(args.pids) == args.n
sel = selectors.DefaultSelector()
now = time.monotonic


class Agent:
    """One keep-alive HTTP/1.1 connection to an agent's HTTP listener."""

    def __init__(self, i):
        self.name = "n%d" % i
        self.addr = ("127.0.0.1", args.base + 1000 + i)
        self.sock = None
        self.done = True

    def close(self):
        if self.sock is not None:
            sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, path, retry=True):
        self.path, self.buf, self.done = path, b"", False
        self.status = self.json = self.at = None
        self.reused = self.sock is not None
        try:
            if self.sock is None:
                s = socket.create_connection(self.addr, timeout=0.2)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, self)
                self.sock = s
            self.sock.send(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                            % (path, self.addr[0], self.addr[1])).encode())
        except OSError:
            self.fail()

    def fail(self):
        # A keep-alive connection the server closed meanwhile: once more on
        # a new one. Anything else: no answer this poll.
        retry = self.reused and not self.buf
        self.close()
        if retry:
            self.send(self.path)
        else:
            self.done, self.at = True, now()

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if self.done:  # nothing asked: the server closed it
            self.close()
            return
        if not data:
            self.fail()
            return
        self.buf += data
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = dict((k.strip().lower(), v.strip())
                       for k, _, v in (l.partition(":") for l in lines[1:]))
        length = int(headers.get("content-length", "-1"))
        if length < 0:
            self.buf = b""  # no length: cannot tell where it ends
            self.fail()
            return
        if len(body) < length:
            return
        self.status = int(lines[0].split()[1])
        try:
            self.json = json.loads(body[:length])
        except ValueError:
            self.json = None
        self.done, self.at = True, now()
        if headers.get("connection", "").lower() == "close":
            self.close()


def poll(agents, path, limit=0.2):
    """GET path of every agent at once; returns (start, end) of the round."""
    start = now()
    for a in agents:
        a.send(path)
    deadline = start + limit
    while not all(a.done for a in agents):
        left = deadline - now()
        if left <= 0:
            break
        for key, _ in sel.select(left):
            key.data.readable()
    for a in agents:
        if not a.done:  # too slow: dropped, a new connection next time
            a.close()
            a.done, a.at = True, now()
    return start, now()


agents = [Agent(i) for i in range(1, args.n + 1)]


def steady():
    """The primary when every agent sees N alive members, exactly one says
    is_primary (and lease, with one) and every agent names it; else None."""
    poll(agents, "/v1/members")
    for a in agents:
        if a.status != 200 or not a.json:
            return None
        alive = sum(m.get("state") == "alive" for m in a.json.get("members", []))
        if alive != args.n:
            return None
    poll(agents, "/v1/primary")
    if any(a.status != 200 or not a.json for a in agents):
        return None
    claimants = [a for a in agents if a.json.get("is_primary")]
    if len(claimants) != 1:
        return None
    p = claimants[0]
    if leased and not p.json.get("lease"):
        return None
    if any(a.json.get("primary") != p.name for a in agents):
        return None
    return p


t_start = now()
primary = None
while primary is None:
    while primary is None:
        if now() - t_start > args.steady_timeout:
            print("no steady state (N alive members everywhere, one primary%s) in %d s"
                  % (" under a lease" if leased else "", args.steady_timeout))
            sys.exit(1)
        primary = steady()
        if primary is None:
            time.sleep(0.1)
    t_steady = now() - t_start
    time.sleep(args.settle + random.randint(0, 999) / 1000)
    again = steady()  # still the same, right before the kill
    if again is None or again is not primary:
        primary = None

survivors = [a for a in agents if a is not primary]
pid = args.pids[agents.index(primary)]
primary.close()
os.kill(pid, signal.SIGKILL)
t0 = now()
cpu0 = time.process_time()

first = first_by = agreed = agreed_on = None
doubles, double_names, mismatches, confirm_failed, unstable = 0, set(), 0, 0, 0
costs = []
k = 0
while True:
    start, end = poll(survivors, "/health/primary")
    costs.append(end - start)
    ok = [a for a in survivors if a.status == 200]
    for a in survivors:
        if a.json and (a.status == 200) != (a.json.get("role") == "primary"):
            mismatches += 1
    if len(ok) > 1:
        doubles += 1
        double_names.add("+".join(a.name for a in ok))
    if ok and first is None:
        by = min(ok, key=lambda a: a.at)
        first, first_by = by.at - t0, by.name
    named = set(a.json.get("primary") if a.json else None for a in survivors)
    p = named.pop() if len(named) == 1 else None
    agree = p not in (None, primary.name) and len(ok) == 1 and ok[0].name == p
    if agreed is None and agree:
        poll(survivors, "/v1/primary")
        if all(a.status == 200 and a.json and a.json.get("primary") == p
               and bool(a.json.get("is_primary")) == (a.name == p) for a in survivors):
            agreed, agreed_on = end - t0, p
        else:
            confirm_failed += 1
    elif agreed is not None and not (agree and p == agreed_on):
        unstable += 1
    if agreed is not None and end - t0 >= agreed + args.tail:
        break
    if end - t0 > args.timeout:
        print("%s killed, no %s in %d s (first 200: %s)"
              % (primary.name, "agreement" if first is not None else "200",
                 args.timeout, "none" if first is None else "%.3f s" % first))
        sys.exit(1)
    k += 1
    time.sleep(max(0.0, t0 + k * args.interval - now()))
cpu = time.process_time() - cpu0

notes = []
if doubles:
    notes.append("TWO 200s AT ONCE in %d poll rounds (%s)" % (doubles, ", ".join(sorted(double_names))))
if unstable:
    notes.append("agreement lost in %d poll rounds after it" % unstable)
if mismatches:
    notes.append("%d answers whose status and role disagree" % mismatches)
if confirm_failed:
    notes.append("%d agreements /v1/primary did not confirm" % confirm_failed)
print("%s killed (steady after %.2f s), first 200 %s after %.3f s, all %d agree on %s after %.3f s; "
      "%d poll rounds of %d survivors, median %.2f ms each%s"
      % (primary.name, t_steady, first_by, first, len(survivors), agreed_on, agreed,
         len(costs), len(survivors), 1000 * statistics.median(costs),
         "".join("; " + n for n in notes)))
with open(args.out, "w") as f:
    f.write("%.3f %.3f %d %.3f %.3f\n" % (first, agreed, doubles, 1000 * statistics.median(costs),
                                          1000 * cpu / len(costs)))
EOF

# --- rounds -------------------------------------------------------------
echo "herd $bin, lease $lease, $n agents on 127.0.0.1 (ports $((base + 1))+, $((base + 1001))+, $((base + 2001))+); settle $settle to $((settle + 1)) s; polls every ${interval} s, tail ${tail_s} s"
echo "$(nproc) cores, /proc/loadavg at the start: $(cat /proc/loadavg)"
firsts=()
alls=()
doubles=()
costs=()
cpus=()
for round in $(seq 1 "$rounds"); do
  start_agent 1
  for _ in $(seq 1 200); do
    curl -s -m 0.2 -o /dev/null "http://127.0.0.1:$((base + 1001))/livez" && break
    sleep 0.05
  done
  for i in $(seq 2 "$n"); do start_agent "$i"; done
  if ! out=$(python3 "$dir/race.py" --base "$base" --n "$n" --leased "$leased" \
    --settle "$settle" --tail "$tail_s" --interval "$interval" --timeout "$timeout" \
    --out "$dir/round" "${pids[@]}"); then
    echo "round $round: $out"
    tail -n 3 "$dir"/n*.log >&2
    exit 1
  fi
  echo "round $round: $out"
  read -r first all double cost cpu < "$dir/round"
  firsts+=("$first")
  alls+=("$all")
  doubles+=("$double")
  costs+=("$cost")
  cpus+=("$cpu")
  stop_agents
done

# The median of the arguments; with FORMAT "range", "MEDIAN s (MIN to MAX)".
median() {
  local format=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v format="$format" '
    { t[NR] = $1 }
    END {
      m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      if (format == "range") printf "%.3f s (%.3f to %.3f)", m, t[1], t[NR]
      else printf "%.2f", m
    }'
}
double_rounds=0
for d in "${doubles[@]}"; do [ "$d" = 0 ] || double_rounds=$((double_rounds + 1)); done
if [ "$double_rounds" = 0 ]; then
  never="never two 200s at once"
else
  never="TWO 200s AT ONCE in $double_rounds of $rounds rounds"
fi
echo "lease $lease, $n agents: first 200 median $(median range "${firsts[@]}"), all agree median $(median range "${alls[@]}"), $rounds rounds; $never"
echo "  one poll round of $((n - 1)) survivors (GET /health/primary each, keep-alive): median $(median plain "${costs[@]}") ms wall, $(median plain "${cpus[@]}") ms poller CPU"
echo "  /proc/loadavg at the end: $(cat /proc/loadavg)"
