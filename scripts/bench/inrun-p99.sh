#!/usr/bin/env bash
# Latency within one traced run at a fixed rate: the p99 of all its
# transactions against the p99 of those far from any stretch with dblat's
# hooks attached (at least 100 ms after they left, 20 ms before they came
# back). Both come from the same seconds, so a stall of the machine (on
# these VMs the host's memory monitor stalls them every half second) falls
# on both alike; what is left is what the hooks' stretches, their coming
# and their going cost the load. A cost while the hooks are away is not
# seen here (the pairs measure that).
#
# usage: inrun-p99.sh [--skip-s S] [--shift-us N] HOOKS LOG...
#   HOOKS: dblat -v's "dblat: hooks on|off at EPOCH.US" lines (hooks are
#          attached until the first "off")
#   LOG:   pgbench -R -l per-transaction logs; latency counts from the
#          scheduled start, which is where a transaction begins here
#   --skip-s S: leave out the first S seconds (pct.sh, which both p99s come from)
#   --shift-us N: the hooks' times moved by N microseconds. With a traced
#          run's hooks laid over an untraced run's logs (N: the untraced
#          run's start less the traced run's) it is the placebo: the same
#          statistic where no hook ran, which shows what it reads by chance
# prints one JSON object: ratio (p99 of all / p99 far), all_p99_us,
# far_p99_us, n, far_n; null figures when there are none far, and a null
# ratio when none are near (no window in the run).
set -euo pipefail
SKIP_S=0
SHIFT_US=0
while [ $# -gt 0 ]; do
	case "$1" in
	--skip-s) SKIP_S=${2:-}; shift 2 ;;
	--shift-us) SHIFT_US=${2:-}; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { echo "usage: inrun-p99.sh [--skip-s S] [--shift-us N] HOOKS LOG..." >&2; exit 2; }
HOOKS=$1
shift

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
all=$("$HERE/pct.sh" --skip-s "$SKIP_S" "$@")
far=$("$HERE/pct.sh" --skip-s "$SKIP_S" --far-from "$HOOKS" --shift-us "$SHIFT_US" "$@")
jq -cn --argjson all "$all" --argjson far "$far" '
	($all.total.p99_us) as $a | ($far.total.p99_us) as $f
	# A run with no window in it reads 1 by construction: null, like none far.
	| {ratio: (if $a != null and $f != null and $f > 0 and $far.n < $all.n
		then ($a / $f * 10000 | round / 10000) else null end),
	   all_p99_us: $a, far_p99_us: $f, n: $all.n, far_n: $far.n}'
