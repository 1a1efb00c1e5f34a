#!/usr/bin/env bash
# Records which functions an agent runs, into deploy/agent.order, which
# deploy/build-dist.sh links together (BENCHMARKS.md, "Code the agent runs,
# linked together"):
#
#   apt-get install valgrind curl binutils
#   deploy/record-order.sh
#
# Fifty agents of the shipped build (five of them under valgrind's
# callgrind: the founder, which the lease makes primary, two more with a
# data directory and two without) form a cluster on loopback, gossip for
# a while and answer what a balancer, Prometheus and an operator ask
# (every read route); the functions the five ran, starting, idling and
# leaving, are what the file lists, with every variant of a C library or
# ring routine that picks its code by the processor's features (valgrind's
# processor is not the machine's). A cluster of five missed code a member
# of fifty runs (BENCHMARKS.md has the figures). Run it
# again when the agent's code paths change much (build-dist.sh prints how
# many of the recorded functions it still finds); a stale file costs memory,
# never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind curl nm; do
    command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
keep=0
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
# Stops with the agents' logs kept for a look.
fail() {
    echo "$0: $1; logs in $work" >&2
    keep=1
    exit 1
}

deploy/build-dist.sh --no-order --keep-symbols "$work/herd"

n=50
traced=5
gossip=27800
http=27900
admin=28000
for i in $(seq 0 $((n - 1))); do
    run=()
    if [ "$i" -lt "$traced" ]; then
        run=(valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/calls.$i")
    fi
    data=(--data-dir "$work/data-$i")
    if [ "$i" -ge 3 ] && [ "$i" -lt "$traced" ]; then
        data=()
    fi
    "${run[@]}" "$work/herd" agent --name "record-$i" "${data[@]}" \
        --bind "127.0.0.1:$((gossip + i))" --http "127.0.0.1:$((http + i))" \
        --admin "127.0.0.1:$((admin + i))" --join "127.0.0.1:$gossip" \
        > "$work/agent.$i.log" 2>&1 &
    pids+=("$!")
    # The founder first: the others join through it.
    if [ "$i" = 0 ]; then
        started=$((SECONDS + 60))
        until curl -sf "http://127.0.0.1:$http/livez" >/dev/null; do
            [ $SECONDS -lt $started ] || fail "the founder did not start"
            sleep 0.5
        done
    fi
done

# Under valgrind an agent runs some 50 times slower: give the cluster three
# minutes to form, then let it gossip.
formed() {
    for i in $(seq 0 $((traced - 1))); do
        local alive
        alive=$(curl -sf "http://127.0.0.1:$((http + i))/v1/members" | grep -o '"state":"alive"' | wc -l) || return 1
        [ "$alive" = "$n" ] || return 1
    done
}
deadline=$((SECONDS + 180))
until formed; do
    [ $SECONDS -lt $deadline ] || fail "the cluster did not form in 180 s"
    sleep 1
done

end=$((SECONDS + 40))
while [ $SECONDS -lt $end ]; do
    for i in $(seq 0 $((traced - 1))); do
        for path in /health /health/primary /health/secondary /readyz /livez; do
            curl -s -o /dev/null "http://127.0.0.1:$((http + i))$path" || true
        done
    done
    sleep 1
done
for i in $(seq 0 $((traced - 1))); do
    for path in /metrics /v1/members /v1/primary /v1/events /v1/explain /; do
        curl -s -o /dev/null "http://127.0.0.1:$((http + i))$path" || true
    done
done

for pid in "${pids[@]}"; do kill -TERM "$pid"; done
for pid in "${pids[@]}"; do wait "$pid" || true; done
pids=()

nm -p --defined-only "$work/herd" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u > "$work/text"
cat "$work"/calls.* | sed -nE 's/^c?fn=\([0-9]+\) (.*)$/\1/p' | sort -u > "$work/ran"
# A routine chosen by processor features (glibc's ifuncs, ring's
# assembly) is recorded in the variant valgrind's processor got: add its
# siblings, the names that differ only in the variant suffix.
variant='_(sse|ssse3|avx|evex|erms|nohw|hw|shaext|generic|rtm|unaligned)[a-z0-9_]*$'
grep -v '^_ZN' "$work/text" > "$work/text.c"
sed -E "s/$variant//" "$work/text.c" | paste "$work/text.c" - | awk -F'\t' '$1 != $2' > "$work/variants"
comm -12 "$work/ran" "$work/text" | grep -v '^_ZN' | grep -E "$variant" | sed -E "s/$variant//" | sort -u > "$work/stems"
awk -F'\t' 'FNR == NR { stem[$1] = 1; next } $2 in stem { print $1 }' "$work/stems" "$work/variants" >> "$work/ran"
sort -u -o "$work/ran" "$work/ran"
{
    echo "# The functions an agent ran (deploy/record-order.sh, $(date -u +%Y-%m-%d),"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(rustc --version)),"
    echo "# linked together by deploy/build-dist.sh. Generated: do not edit."
    comm -12 "$work/ran" "$work/text"
} > deploy/agent.order
echo "deploy/agent.order: $(grep -vc '^#' deploy/agent.order) functions" >&2
