#!/usr/bin/env bash
# Checks deploy/systemd/herd.service the way CI can: on a machine where herd
# is not installed and systemd need not be running (a container will do).
#
#   deploy/systemd/verify.sh            # exit 0: the unit is clean
#
# It fails (non-zero, with the reason) when:
# - systemd-analyze verify reports anything about the unit (an unknown or
#   misspelt key, a value that does not parse, a missing program);
# - the sandbox got weaker than HERD_MAX_EXPOSURE (default 2.0) by
#   `systemd-analyze security` (skipped on systemd older than 250);
# - TimeoutStopSec is not longer than drain_timeout in deploy/herd.toml.
#
# `systemd-analyze verify` checks that ExecStart's program exists and is
# executable, and CI has no /usr/bin/herd: the unit is copied to a temporary
# directory with /usr/bin/herd replaced by HERD_BIN (default: /usr/bin/herd if
# installed, else `true`). Nothing else in the unit is changed.
#
# Needs systemd-analyze (Debian/Ubuntu: apt-get install -y systemd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
unit="$here/herd.service"
config="$here/../herd.toml"
max_exposure=${HERD_MAX_EXPOSURE:-2.0}

fail() {
  echo "verify.sh: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null 2>&1 ||
  fail "systemd-analyze not found (apt-get install -y systemd)"
[ -f "$unit" ] || fail "$unit not found"

bin=${HERD_BIN:-}
if [ -z "$bin" ]; then
  if [ -x /usr/bin/herd ]; then bin=/usr/bin/herd; else bin=$(type -P true); fi
fi
[ -x "$bin" ] || fail "HERD_BIN=$bin is not an executable"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The copy keeps the unit's name: systemd derives the service's name from it.
sed "s|/usr/bin/herd|$bin|g" "$unit" >"$tmp/herd.service"

version=$(systemd-analyze --version | awk 'NR == 1 { print $2 }')
echo "systemd-analyze $version; ExecStart program: $bin"

# 1. verify. --man=no: the man page herd(1) is not installed in CI.
# --recursive-errors=no (systemd 250+): only this unit, not every unit it
# names (network-online.target and the like belong to the host).
flags=(--man=no)
if systemd-analyze --help 2>&1 | grep -q -- '--recursive-errors'; then
  flags+=(--recursive-errors=no)
fi
status=0
out=$(systemd-analyze verify "${flags[@]}" "$tmp/herd.service" 2>&1) || status=$?
# A clean unit prints nothing. Older systemd versions print warnings about
# the unit but exit 0, so any line naming it counts as a failure too.
if [ "$status" -ne 0 ] || grep -q 'herd\.service' <<<"$out"; then
  printf '%s\n' "$out" | sed "s|$tmp/|deploy/systemd/|g" >&2
  fail "systemd-analyze verify found problems in herd.service (status $status)"
fi
[ -z "$out" ] || printf 'note (not about this unit):\n%s\n' "$out"
echo "verify: ok"

# 2. The sandbox's exposure score (0 is the most locked down, 10 the least).
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
  status=0
  out=$(systemd-analyze security --offline=yes "$tmp/herd.service" 2>&1) || status=$?
  score=$(sed -n 's/.*Overall exposure level for herd\.service: \([0-9.]*\).*/\1/p' <<<"$out")
  if [ "$status" -ne 0 ] || [ -z "$score" ]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze security failed (status $status)"
  fi
  if awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }'; then
    printf '%s\n' "$out" | grep '✗' >&2 || true
    fail "exposure $score is above $max_exposure: the sandbox got weaker (set HERD_MAX_EXPOSURE to accept it)"
  fi
  echo "security: exposure $score (at most $max_exposure): ok"
else
  echo "security: skipped (systemd-analyze security --offline needs systemd 250 or later)"
fi

# 3. TimeoutStopSec must leave the agent time to drain and leave.
seconds() { # "30s", "2min", "1m", "45" -> seconds; empty when not that simple
  case "$1" in
    *[!0-9]*min) echo $((${1%min} * 60)) ;;
    *min) echo $((${1%min} * 60)) ;;
    *m) [[ "${1%m}" =~ ^[0-9]+$ ]] && echo $((${1%m} * 60)) ;;
    *s) [[ "${1%s}" =~ ^[0-9]+$ ]] && echo "${1%s}" ;;
    *) [[ "$1" =~ ^[0-9]+$ ]] && echo "$1" ;;
  esac
}
stop=$(sed -n 's/^TimeoutStopSec=\(.*\)$/\1/p' "$unit" | tail -n 1)
drain=$(sed -n 's/^drain_timeout *= *"\(.*\)".*$/\1/p' "$config" 2>/dev/null | tail -n 1)
drain=${drain:-15s} # the agent's default
stop_s=$(seconds "$stop" || true)
drain_s=$(seconds "$drain" || true)
if [ -z "$stop_s" ] || [ -z "$drain_s" ]; then
  echo "timeouts: skipped (TimeoutStopSec=$stop, drain_timeout=$drain: not plain seconds or minutes)"
elif [ "$stop_s" -le "$drain_s" ]; then
  fail "TimeoutStopSec=$stop is not longer than drain_timeout = \"$drain\": systemd would kill the agent before it leaves"
else
  echo "timeouts: TimeoutStopSec=$stop > drain_timeout $drain: ok"
fi
