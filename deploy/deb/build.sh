#!/usr/bin/env bash
# Builds the Debian package: target/debian/herd_<version>-1_<arch>.deb.
#
#   cargo install cargo-deb --locked   # once
#   deploy/deb/build.sh
#
# The man page and shell completions come from the binary itself, so they
# always match its flags.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/build-dist.sh target/deb-assets/herd
target/deb-assets/herd manpage | gzip -9n > target/deb-assets/herd.1.gz
target/deb-assets/herd completions bash > target/deb-assets/herd.bash
target/deb-assets/herd completions zsh > target/deb-assets/_herd
cargo deb --no-build --locked --strip "$@"
