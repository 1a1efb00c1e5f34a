#!/usr/bin/env bash
# Builds the agent as it ships (the .deb, the container image) and installs
# the binary at OUT:
#
#   deploy/build-dist.sh [--no-order] [--keep-symbols] OUT
#
# The `dist` profile (Cargo.toml) optimises for size and links as one unit,
# and the C library is linked in statically: an agent runs beside every
# node, and each of these takes its idle resident size down by about a
# megabyte (BENCHMARKS.md, "The shipped build"). glibc's
# `files` and `dns` host lookups are part of libc itself, so a static
# binary still resolves seeds by name; other NSS modules are loaded from
# the system, which must then carry the glibc it was built with (the
# package and the image are built on the Debian release they run on).
#
# The functions an agent runs (starting, gossiping, answering its
# balancer), recorded in deploy/agent.order by deploy/record-order.sh, are
# then linked next to each other: the kernel maps a binary's code in
# windows of 64 KiB or more around each page it runs, and with those
# functions spread over the whole text an idle agent kept nearly all of it
# resident (BENCHMARKS.md, "Code the agent runs, linked together"). The
# file holds symbol names; a name the compiler has since changed (a new
# toolchain, an edited function) is matched by its name without the hash,
# and one that no longer exists is skipped: a stale file costs memory,
# never correctness. --no-order leaves the order out; --keep-symbols skips
# the final strip (deploy/record-order.sh needs the names).
set -euo pipefail
order=1
keep_symbols=0
while [ $# -gt 1 ]; do
    case $1 in
        --no-order) order=0 ;;
        --keep-symbols) keep_symbols=1 ;;
        *) echo "usage: $0 [--no-order] [--keep-symbols] OUT" >&2; exit 2 ;;
    esac
    shift
done
if [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 [--no-order] [--keep-symbols] OUT" >&2
    exit 2
fi
out=$1
cd "$(dirname "$0")/.."

# An explicit --target keeps the flag off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
built="${CARGO_TARGET_DIR:-target}/$host/dist/herd"
cargo build --profile dist --locked --target "$host" --bin herd

if [ "$order" = 1 ] && [ -s deploy/agent.order ]; then
    resolved="${CARGO_TARGET_DIR:-target}/$host/dist/agent.order.resolved"
    demangle() { c++filt | sed -E 's/::h[0-9a-f]{16}$//'; }
    # Every symbol of the first link, mangled and demangled, side by side.
    nm -p --defined-only "$built" | awk 'NF == 3 { print $3 }' > "$resolved.names"
    demangle < "$resolved.names" | paste "$resolved.names" - > "$resolved.table"
    grep -v '^#' deploy/agent.order | grep . > "$resolved.wanted"
    demangle < "$resolved.wanted" | paste "$resolved.wanted" - > "$resolved.wanted-table"
    awk -F'\t' -v report="$resolved.report" '
        FNR == NR { wanted[$1] = 1; unmangled[$1] = $2; n_wanted++; next }
        { name[++n] = $1; plain[n] = $2; have[$1] = 1 }
        END {
            for (w in wanted) if (w in have) exact++; else fallback[unmangled[w]] = 1
            for (i = 1; i <= n; i++)
                if (name[i] in wanted) print name[i]
                else if (plain[i] in fallback) { print name[i]; by_plain++; found[plain[i]] = 1 }
            for (p in fallback) if (!(p in found)) gone++
            printf "%d of %d recorded functions found by name, %d more symbols by their name without the hash, %d names gone\n", \
                exact, n_wanted, by_plain, gone > report
        }' "$resolved.wanted-table" "$resolved.table" > "$resolved"
    echo "deploy/agent.order: $(cat "$resolved.report")" >&2
    # Cargo does not watch the file a link argument names: a name that
    # changes with its content makes it link again when the order changes.
    digest=$(sha256sum "$resolved" | cut -c1-16)
    cp "$resolved" "$resolved.$digest"
    resolved="$resolved.$digest"
    case $resolved in /*) ;; *) resolved="$PWD/$resolved" ;; esac
    # The same crates, profile and flags: only the final link is redone.
    cargo rustc --profile dist --locked --target "$host" --bin herd -- \
        -C "link-arg=-Wl,--symbol-ordering-file=$resolved" \
        -C link-arg=-Wl,--no-warn-symbol-ordering
fi

if [ "$keep_symbols" = 1 ]; then
    install -D -m 0755 "$built" "$out"
else
    install -D -m 0755 --strip "$built" "$out"
fi
