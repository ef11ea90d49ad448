#!/usr/bin/env bash
# Two dblat builds against each other, interleaved: A B A B ... on the same
# workload, each run with kernel.bpf_stats_enabled, so that a change to the
# BPF side is judged by the BPF time it costs per transaction, the figure
# this VM's run-to-run noise disturbs least (a throughput ratio swings by
# more than most changes move it). Prints each pair and the median of the
# differences, and how many pairs went each way.
#
# usage: scripts/bench-ab.sh [--pairs N] [--seconds T] [--workload W] A_DBLAT B_DBLAT
#
#   --pairs N     A/B pairs (default 5)
#   --seconds T   length of one pgbench run (default 4)
#   --workload W  sel-unix-prepared (default), sel-unix-simple, sel-tcp-prepared,
#                 sel-tcp-simple
#
# Both builds trace the cluster's postmaster and pgbench (-p PID -c pgbench),
# as scripts/bench-overhead.sh does. Each build is copied first: rebuilding
# the work tree meanwhile does not change what is measured.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/bench/lib.sh"

PAIRS=5
SECS=4
WORKLOAD=sel-unix-prepared
usage() { sed -n '/^# usage:/,/^# *sel-tcp-simple/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--pairs) PAIRS=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--workload) WORKLOAD=$2; shift ;;
	-h | --help) usage ;;
	-*) echo "bench-ab: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 2 ] || usage
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || bdie "--pairs wants a positive number: $PAIRS"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || bdie "--seconds wants a positive number: $SECS"
case $WORKLOAD in
sel-unix-prepared) TR=unix MODE=prepared ;;
sel-unix-simple) TR=unix MODE=simple ;;
sel-tcp-prepared) TR=tcp MODE=prepared ;;
sel-tcp-simple) TR=tcp MODE=simple ;;
*) bdie "unknown workload: $WORKLOAD" ;;
esac
for b in "$1" "$2"; do
	[ -x "$b" ] || bdie "not an executable: $b"
done

DBLAT=$1
bench_need pgbench jq bpftool
bench_init ab
cp "$1" "$BENCH_TMP/dblat-a"
cp "$2" "$BENCH_TMP/dblat-b"
pg_up 10
pgb "$TR" -n -S -M "$MODE" -c 4 -j 2 -T 3 >/dev/null 2>&1 || bdie "warm-up pgbench failed"
bpf_stats_on

# One traced run: prints "BPF_us_per_tx tps".
one_run() {
	local bin=$1 tag=$2 b0 b1 out tps ntx
	tracer_start "dblat-$tag" 'attached to' "$BENCH_TMP/$tag.err" 60 \
		"$bin" -p "$PG_PID" -c pgbench -d $((SECS + 30)) || bdie "dblat ($tag) did not attach"
	sleep 1
	b0=$(bpf_prog_stats "$TRACER_PID")
	out="$BENCH_TMP/$tag.pgb"
	pgb "$TR" -n -S -M "$MODE" -c 4 -j 2 -T "$SECS" >"$out" 2>&1 || bdie "pgbench failed ($tag)"
	b1=$(bpf_prog_stats "$TRACER_PID")
	tracer_stop 30 || true
	wait_progs_gone 5
	read -r tps ntx _ < <(pgb_parse "$out")
	awk -v b0="$b0" -v b1="$b1" -v n="$ntx" -v tps="$tps" 'BEGIN {
		split(b0, x, " "); split(b1, y, " ")
		printf "%.3f %.0f\n", (y[1] - x[1]) / 1000 / n, tps }'
}

blog "bench-ab: $PAIRS pairs x $SECS s, $WORKLOAD; A = $1, B = $2"
: >"$BENCH_TMP/pairs"
for ((p = 1; p <= PAIRS; p++)); do
	read -r ua ta < <(one_run "$BENCH_TMP/dblat-a" a)
	read -r ub tb < <(one_run "$BENCH_TMP/dblat-b" b)
	printf 'pair %d: A %s us/tx (%s tps), B %s us/tx (%s tps), B - A %+.3f\n' \
		"$p" "$ua" "$ta" "$ub" "$tb" "$(awk -v a="$ua" -v b="$ub" 'BEGIN { print b - a }')"
	echo "$ua $ub" >>"$BENCH_TMP/pairs"
done
awk '{ printf "%.3f\n", $2 - $1 }' "$BENCH_TMP/pairs" | sort -g | awk '
	{ d[NR] = $1; lower += ($1 < 0); higher += ($1 > 0) }
	END {
		n = NR
		m = (n % 2) ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2
		printf "B - A, BPF us per transaction: median %+.3f (from %+.3f to %+.3f); B lower in %d of %d pairs, higher in %d\n",
			m, d[1], d[n], lower, n, higher
	}'
