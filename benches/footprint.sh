#!/bin/sh
# Issue 15's footprint comparison; see benches/footprint.py for what it does.
#   benches/footprint.sh [N] [--window S] [--settle S] [--no-build]
#   benches/footprint.sh --wrk [--rounds R]
exec python3 "$(dirname "$0")/footprint.py" "$@"
