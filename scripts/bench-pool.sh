#!/usr/bin/env bash
# The throughput pairs of several scripts/bench-overhead.sh runs, pooled.
# On a VM whose speed moves within seconds one pair of 10 s runs swings by
# ±25%, so a single run's median cannot resolve a few points; many runs'
# pairs together can. Per workload, and for the select workloads together:
# the geometric mean of traced/untraced over every clean pair, and a 90%
# interval from resampling whole runs (the pairs of one run share its
# drift, so runs, not pairs, are the unit).
#
# usage: scripts/bench-pool.sh [--mode NAME] [--reps N] RESULT.json...
#
#   --mode NAME  only runs of this dblat mode (default: "default")
#   --reps N     bootstrap resamples (default 4000)
#
# Quick and full runs may be mixed; the fixed-rate workload has no
# throughput pairs to pool (its rate is set), so it is left out.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

MODE=default
REPS=4000
usage() { sed -n '/^# usage:/,/^# *--reps/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--mode) MODE=$2; shift ;;
	--reps) REPS=$2; shift ;;
	-h | --help) usage ;;
	-*) echo "bench-pool: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || usage
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-pool: --reps wants a positive number: $REPS" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench-pool: jq is needed (scripts/deps.sh installs it)" >&2; exit 1; }

# One line per clean pair: run index, workload, ln(traced/untraced).
rows=$(
	i=0
	for f in "$@"; do
		i=$((i + 1))
		[ -r "$f" ] || { echo "bench-pool: cannot read $f" >&2; exit 1; }
		jq -e '.schema | strings | startswith("dblat-bench-overhead/")' "$f" >/dev/null 2>&1 ||
			{ echo "bench-pool: $f is not a bench-overhead result" >&2; exit 1; }
		jq -r --arg mode "$MODE" --argjson run "$i" '
			select((.dblat.mode // "default") == $mode)
			| .workloads | to_entries[] | select(.key != "fixed-rate") | .key as $w
			| .value.pairs[]? | select(.clean != false and (.tput_ratio // 0) > 0)
			| "\($run) \($w) \(.tput_ratio | log)"' "$f"
	done
)
[ -n "$rows" ] || { echo "bench-pool: no throughput pairs of mode $MODE in the files given" >&2; exit 1; }

awk -v reps="$REPS" -v nfiles="$#" -v mode="$MODE" -f "$HERE/bench/stats.awk" -f "$HERE/bench/pool.awk" <<<"$rows"
