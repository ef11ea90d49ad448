#!/usr/bin/env bash
# What starting dblat costs a load at a host's limit, measured the way a user
# meets it: dblat started for each traced run, against the same run with no
# dblat, in rounds of two adjacent runs. bench-overhead.sh keeps one dblat
# for a block of workloads and pairs blocks about 90 s apart; on a VM whose
# speed moves by 12% over 10 s those pairs swing by ±25%. Here the two runs
# of a round are seconds apart, their order alternates (ABBA), and rounds
# are many, so their mean can resolve a few points.
#
# usage: scripts/bench-presence.sh [--rounds N] [--seconds T] [--warm T]
#            [--workloads W1,W2..] [--target R] [--out FILE] [--pause-damon]
#
#   --rounds N       rounds (default 40); each takes about 3 x (T + warm) s
#   --seconds T      length of a measured pgbench run (default 5)
#   --warm T         a pgbench run of this length before each measured one,
#                    its result discarded (default 3; 0: none)
#   --workloads L    comma list, taken in turn by the rounds, from:
#                    sel-unix-simple sel-unix-prepared sel-tcp-simple sel-tcp-prepared
#                    (default: all four)
#   --target R       the ratio the verdict is about (default 0.97)
#   --out FILE       results JSON (default out/bench-presence.json)
#   --pause-damon    turn the kernel's DAMON monitor off for the run (see bench-overhead.sh)
#
# A traced run: dblat -p POSTMASTER -c pgbench -v starts, attaches, a second
# passes, the warm-up and the measured run follow, dblat stops. An untraced
# run is the same without dblat. Each traced run's rate within it (inrun.awk)
# is kept beside the round.
#
# Prints one line per round, then per group (all rounds, each transport, each
# workload): the geometric mean of traced/untraced with its 90% interval, the
# median with its distribution-free 90% interval, rounds where the traced run
# was slower, and the median rate within traced runs; last, the verdict on
# the target: met (the interval of all rounds' mean is above it), missed (below)
# or unresolved (always, under 10 rounds). Exit status 0 whatever the verdict.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/bench/lib.sh"

ROUNDS=40
SECS=5
WARM=3
WL_OPT=sel-unix-simple,sel-unix-prepared,sel-tcp-simple,sel-tcp-prepared
TARGET=0.97
OUT=
PAUSE_DAMON=0
usage() { sed -n '/^# usage:/,/^# *--pause-damon/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--warm) WARM=$2; shift ;;
	--workloads) WL_OPT=$2; shift ;;
	--target) TARGET=$2; shift ;;
	--out) OUT=$2; shift ;;
	--pause-damon) PAUSE_DAMON=1 ;;
	-h | --help) usage ;;
	*) echo "bench-presence: unknown option $1" >&2; usage ;;
	esac
	shift
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || bdie "--rounds wants a positive number: $ROUNDS"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || bdie "--seconds wants a positive number: $SECS"
[[ "$WARM" =~ ^[0-9]+$ ]] || bdie "--warm wants a number of seconds: $WARM"
[[ "$TARGET" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || bdie "--target wants a ratio in 0..1: $TARGET"
read -r -a WORKLOADS <<<"${WL_OPT//,/ }"
[ "${#WORKLOADS[@]}" -ge 1 ] || bdie "--workloads is empty"
declare -A W_TR W_MODE
for w in "${WORKLOADS[@]}"; do
	case $w in
	sel-unix-simple) W_TR[$w]=unix W_MODE[$w]=simple ;;
	sel-unix-prepared) W_TR[$w]=unix W_MODE[$w]=prepared ;;
	sel-tcp-simple) W_TR[$w]=tcp W_MODE[$w]=simple ;;
	sel-tcp-prepared) W_TR[$w]=tcp W_MODE[$w]=prepared ;;
	*) bdie "unknown workload: $w" ;;
	esac
done
OUT=${OUT:-$REPO_ROOT/out/bench-presence.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

bench_need pgbench jq bpftool
bench_init presence
DAMON_AT_START=$(damon_state)
[ "$PAUSE_DAMON" = 0 ] || damon_pause
T_START=$(now_s)
pg_up 10
pgb unix -n -S -c 4 -j 2 -T 3 >/dev/null 2>&1 || bdie "warm-up pgbench failed"

# One run: sets RUN_TPS and RUN_INRUN ("null" untraced, or when no window fell in the run).
# Not in a subshell: a failure must reach the cleanup trap, which stops dblat.
one_run() {
	local w=$1 arm=$2 k=$3 tr=${W_TR[$1]} mode=${W_MODE[$1]} out log tps inrun=null
	out="$BENCH_TMP/$arm.$k.pgb"
	log="$BENCH_TMP/$arm.$k.err"
	if [ "$arm" = traced ]; then
		tracer_start dblat 'attached to' "$log" 60 "$DBLAT" -p "$PG_PID" -c pgbench -v \
			-d $((SECS + WARM + 60)) || bdie "dblat did not attach (round $k)"
		sleep 1
	fi
	[ "$WARM" = 0 ] || pgb "$tr" -n -S -M "$mode" -c 4 -j 2 -T "$WARM" >/dev/null 2>&1 ||
		bdie "warm-up pgbench failed (round $k, $arm)"
	# Both arms log each transaction, so the logging costs both alike; the traced arm's log gives its rate within.
	pgb "$tr" -n -S -M "$mode" -c 4 -j 2 -T "$SECS" -l --log-prefix="$BENCH_TMP/ir.$arm.$k" >"$out" 2>&1 ||
		bdie "pgbench failed (round $k, $arm): $(tail -n 1 "$out")"
	if [ "$arm" = traced ]; then
		tracer_stop 30 || true
		wait_progs_gone 5
		inrun=$(awk -f "$HERE/bench/inrun.awk" "$log" "$BENCH_TMP/ir.$arm.$k".* | jq -r '.ratio // "null"')
	fi
	rm -f "$BENCH_TMP/ir.$arm.$k".*
	read -r tps _ < <(pgb_parse "$out")
	[ "$tps" != null ] || bdie "no rate in pgbench's output (round $k, $arm)"
	RUN_TPS=$tps
	RUN_INRUN=$inrun
}

ROUNDS_FILE="$BENCH_TMP/rounds"
: >"$ROUNDS_FILE"
blog "bench-presence: $ROUNDS rounds of ${SECS} s runs (warm-up ${WARM} s), ${WORKLOADS[*]}"
for ((k = 1; k <= ROUNDS; k++)); do
	w=${WORKLOADS[$(((k - 1) % ${#WORKLOADS[@]}))]}
	# ABBA: untraced first in odd rounds, traced first in even ones, so a steady drift cancels.
	if ((k % 2)); then order="untraced traced"; else order="traced untraced"; fi
	for arm in $order; do
		one_run "$w" "$arm" "$k"
		if [ "$arm" = traced ]; then tt=$RUN_TPS ir=$RUN_INRUN; else ut=$RUN_TPS; fi
	done
	echo "$k $w $ut $tt $ir" >>"$ROUNDS_FILE"
	printf 'round %d %s: untraced %.0f tps, traced %.0f tps, ratio %.3f, within traced run %s\n' \
		"$k" "$w" "$ut" "$tt" "$(awk -v u="$ut" -v t="$tt" 'BEGIN { print t / u }')" "$ir"
done

SUMMARY=$(awk -v target="$TARGET" -f "$HERE/bench/stats.awk" -f "$HERE/bench/presence.awk" "$ROUNDS_FILE")
T_END=$(now_s)
echo
awk '$1 != "target" {
		for (i = 2; i < NF; i += 2) f[$i] = $(i + 1)
		printf "%-18s %3d rounds  mean %s (90%%: %s..%s)  median %s (%s..%s)  slower traced %d  within %s\n",
			$1, f["n"], f["geo"], f["lo"], f["hi"], f["median"], f["mlo"], f["mhi"], f["below"], f["inrun"] }
	$1 == "target" { printf "\nthroughput >= %s of untraced: %s\n", $2, $3 }' <<<"$SUMMARY"

jq -n --arg sha "$DBLAT_SHA" --arg kernel "$(uname -r)" --argjson ncpu "$(nproc)" \
	--argjson secs "$SECS" --argjson warm "$WARM" --argjson t0 "$T_START" --argjson t1 "$T_END" \
	--arg damon "$DAMON_AT_START" --argjson paused "$PAUSE_DAMON" \
	--rawfile rounds "$ROUNDS_FILE" --arg summary "$SUMMARY" '
	def num: if . == "null" then null else tonumber end;
	{ schema: "dblat-bench-presence/1",
	  dblat: { sha256_16: $sha }, machine: { kernel: $kernel, ncpu: $ncpu },
	  damon: { at_start: $damon, paused: ($paused == 1) },
	  seconds: $secs, warm_seconds: $warm, elapsed_s: ($t1 - $t0),
	  rounds: [ $rounds | split("\n")[] | select(length > 0) | split(" ")
	            | { round: (.[0] | tonumber), workload: .[1], untraced_tps: (.[2] | tonumber),
	                traced_tps: (.[3] | tonumber), inrun: (.[4] | num) } ],
	  groups: [ $summary | split("\n")[] | select(length > 0 and (startswith("target ") | not)) | split(" ") as $f
	            | ([range(1; $f | length; 2) | {($f[.]): ($f[. + 1] | num)}] | add) as $v
	            | { group: $f[0], n: $v.n, geo: $v.geo, lo: $v.lo, hi: $v.hi, median: $v.median,
	                median_lo: $v.mlo, median_hi: $v.mhi, slower_traced: $v.below, inrun_median: $v.inrun } ],
	  target: ($summary | split("\n")[] | select(startswith("target ")) | split(" ")
	           | { ratio: (.[1] | tonumber), verdict: .[2] }) }' >"$OUT"
blog "results: $OUT ($(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s)"
