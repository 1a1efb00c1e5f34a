#!/usr/bin/env bash
# Builds the agent as it ships (the .deb, the container image) and installs
# the binary at OUT:
#
#   deploy/build-dist.sh OUT
#
# The `dist` profile (Cargo.toml) optimises for size and links as one unit,
# and the C library is linked in statically: an agent runs beside every
# node, and each of these takes its idle resident size down by about a
# megabyte (BENCHMARKS.md, "The shipped build"). glibc's
# `files` and `dns` host lookups are part of libc itself, so a static
# binary still resolves seeds by name; other NSS modules are loaded from
# the system, which must then carry the glibc it was built with (the
# package and the image are built on the Debian release they run on).
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUT" >&2
    exit 2
fi
out=$1
cd "$(dirname "$0")/.."

# An explicit --target keeps the flag off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --profile dist --locked --target "$host"
install -D -m 0755 "${CARGO_TARGET_DIR:-target}/$host/dist/herd" "$out"
