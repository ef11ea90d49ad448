#!/usr/bin/env bash
# scripts/bench/presence.awk (with stats.awk), the statistics of scripts/bench-presence.sh, on
# made-up rounds whose answers are known: the geometric mean of
# traced/untraced with its t interval, per transport and per workload; the
# median with its order-statistic interval once there are 7 rounds or more;
# rounds where the traced run was slower; the median rate within traced runs
# (nulls skipped); the verdict on the target: met, missed, unresolved. And the
# script's own refusals: bad options give status 2 before anything runs.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
BENCH="$(dirname "$0")/../../scripts/bench"
SCRIPT="$(dirname "$0")/../../scripts/bench-presence.sh"

# field GROUP NAME FILE: the value after NAME on GROUP's line.
field() { awk -v g="$1" -v n="$2" '$1 == g { for (i = 2; i < NF; i += 2) if ($i == n) print $(i + 1) }' "$3"; }

printf '%s\n' '1 sel-unix-simple 100 110 1.0' '2 sel-tcp-simple 100 90 null' \
	'3 sel-unix-simple 200 200 0.98' '4 sel-tcp-prepared 100 100 1.02' >"$TEST_TMP/four"
awk -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/four" >"$TEST_TMP/four.out" 2>&1
check "four rounds: status" $? 0
cat "$TEST_TMP/four.out"
check "all: (1.1 x 0.9 x 1 x 1)^(1/4)" "$(field all geo "$TEST_TMP/four.out")" 0.9975
check "all: interval, t(3) = 2.353 on the logs' standard error" \
	"$(field all lo "$TEST_TMP/four.out") $(field all hi "$TEST_TMP/four.out")" "0.9058 1.0985"
check "all: no median interval under 7 rounds" "$(field all mlo "$TEST_TMP/four.out")" null
check "all: traced slower in one round" "$(field all below "$TEST_TMP/four.out")" 1
check "all: median within traced runs, null left out" "$(field all inrun "$TEST_TMP/four.out")" 1.0000
check "unix: sqrt(1.1)" "$(field unix geo "$TEST_TMP/four.out")" 1.0488
check "tcp: sqrt(0.9)" "$(field tcp geo "$TEST_TMP/four.out")" 0.9487
check "a workload of one round: no interval" "$(field sel-tcp-prepared lo "$TEST_TMP/four.out")" null
check "four rounds: unresolved" "$(awk '$1 == "target" { print $2, $3 }' "$TEST_TMP/four.out")" "0.97 unresolved"

# Nine rounds at 0.90, 0.92 .. 1.06: median 0.98; k = int(4.5 - 0.8224 x 3) = 2, so x(2) and x(8).
for i in 0 1 2 3 4 5 6 7 8; do
	echo "$i sel-unix-prepared 1000 $((900 + 20 * i))"
done >"$TEST_TMP/nine"
awk -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/nine" >"$TEST_TMP/nine.out"
check "nine: median and its interval" \
	"$(field all median "$TEST_TMP/nine.out") $(field all mlo "$TEST_TMP/nine.out") $(field all mhi "$TEST_TMP/nine.out")" \
	"0.9800 0.9200 1.0400"
check "nine: no rate within given" "$(field all inrun "$TEST_TMP/nine.out")" null

for i in 1 2 3 4 5 6 7 8 9 10; do echo "$i sel-tcp-prepared 1000 $((995 + i % 2 * 10))"; done >"$TEST_TMP/close"
check "rounds at 0.995 and 1.005: met" "$(awk -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/close" | awk '$1 == "target" { print $3 }')" met
check "... missed against a target of 1.01" \
	"$(awk -v target=1.01 -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/close" | awk '$1 == "target" { print $3 }')" missed
head -n 9 "$TEST_TMP/close" >"$TEST_TMP/nine-close"
check "... but unresolved in 9 rounds" "$(awk -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/nine-close" | awk '$1 == "target" { print $3 }')" unresolved
: >"$TEST_TMP/none"
awk -f "$BENCH/stats.awk" -f "$BENCH/presence.awk" "$TEST_TMP/none" >/dev/null 2>"$TEST_TMP/none.err"
check "no rounds: status" $? 1
check "no rounds: one line" "$(grep -c . "$TEST_TMP/none.err")" 1

for bad in "--rounds 0" "--seconds x" "--warm -1" "--target 1.5" "--workloads tpcb-unix" "--nope"; do
	# shellcheck disable=SC2086
	"$SCRIPT" $bad >/dev/null 2>&1
	check "bench-presence.sh $bad: status" $? 2
done
finish
