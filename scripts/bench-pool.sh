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

awk -v reps="$REPS" -v nfiles="$#" -v mode="$MODE" '
	function add(w, run, x) {
		if (!(w in seen)) { seen[w] = 1; if (w != ALL) order[++nw] = w }
		if (!((w, run) in has)) { has[w, run] = 1; runs[w, ++nr[w]] = run }
		s[w, run] += x; n[w, run]++; S[w] += x; N[w]++; SS[w] += x * x
	}
	BEGIN { ALL = "sel-* together" }
	{ add($2, $1, $3); if ($2 ~ /^sel-/) add(ALL, $1, $3); if (!($1 in used)) { used[$1] = 1; nused++ } }
	# The geometric mean of the pairs of the runs drawn (with repeats).
	# mawk has no asort: a shell sort of v[1..m].
	function sort(m,   gap, i, j, t) {
		for (gap = int(m / 2); gap > 0; gap = int(gap / 2))
			for (i = gap + 1; i <= m; i++) {
				t = v[i]
				for (j = i; j > gap && v[j - gap] > t; j -= gap) v[j] = v[j - gap]
				v[j] = t
			}
	}
	function draw(w,   k, r, sx, nx) {
		sx = 0; nx = 0
		for (k = 1; k <= nr[w]; k++) { r = runs[w, 1 + int(rand() * nr[w])]; sx += s[w, r]; nx += n[w, r] }
		return exp(sx / nx)
	}
	END {
		srand(1)
		printf "throughput pairs of mode %s pooled over %d run%s of %d given (geometric mean of traced/untraced;\n", mode, nused, nused == 1 ? "" : "s", nfiles
		printf "90%% interval from resampling whole runs)\n\n"
		printf "%-18s %5s %6s %8s %17s %9s\n", "workload", "runs", "pairs", "ratio", "90% interval", "sd/pair"
		if (ALL in seen) order[++nw] = ALL
		for (i = 1; i <= nw; i++) {
			w = order[i]
			for (b = 1; b <= reps; b++) v[b] = draw(w)
			sort(reps)
			m = S[w] / N[w]; sd = sqrt((SS[w] / N[w] - m * m) > 0 ? SS[w] / N[w] - m * m : 0)
			printf "%-18s %5d %6d %8.3f %8.3f..%-7.3f %9.3f\n", w, nr[w], N[w], exp(m),
				v[int(reps * 0.05) + 1], v[int(reps * 0.95)], sd
			delete v
		}
	}' <<<"$rows"
