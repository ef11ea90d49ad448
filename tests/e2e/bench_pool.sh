#!/usr/bin/env bash
# scripts/bench-pool.sh on made-up results whose answer is known: the
# geometric mean of the clean throughput pairs of the mode asked for, per
# workload and for the select workloads together; fixed-rate pairs, pairs
# marked unclean and other modes left out; runs counted; a file that is not
# the overhead benchmark's result (the consumer's) refused with one line and
# status 1, no file at all with the usage and status 2.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
need_cmd jq
POOL="$(dirname "$0")/../../scripts/bench-pool.sh"

# result FILE MODE JQ-WORKLOADS: a minimal bench-overhead result.
result() {
	jq -n --arg mode "$2" "{schema: \"dblat-bench-overhead/1\", dblat: {mode: \$mode}, workloads: $3}" >"$1"
}
pair() { printf '{"tput_ratio": %s, "clean": %s}' "$1" "${2:-true}"; }
result "$TEST_TMP/a.json" default "{
	\"sel-unix-simple\": {pairs: [$(pair 1.2), $(pair 0.8)]},
	\"sel-tcp-simple\": {pairs: [$(pair 1.0)]},
	\"tpcb-unix\": {pairs: [$(pair 0.9 false)]},
	\"fixed-rate\": {pairs: [$(pair 2.0)]}}"
result "$TEST_TMP/b.json" default "{
	\"sel-unix-simple\": {pairs: [$(pair 1.0)]},
	\"sel-tcp-simple\": {pairs: [$(pair 0.5)]}}"
result "$TEST_TMP/c.json" full "{\"sel-unix-simple\": {pairs: [$(pair 0.1)]}}"

"$POOL" --reps 200 "$TEST_TMP/a.json" "$TEST_TMP/b.json" "$TEST_TMP/c.json" >"$TEST_TMP/out" 2>&1
check "exit status" $? 0
cat "$TEST_TMP/out"
# row NAME: "runs pairs ratio" of the row of workload NAME.
row() { awk -v w="$1" '$1 == w || ($1 " " $2) == w { if (w ~ / /) print $3, $4, $5; else print $2, $3, $4 }' "$TEST_TMP/out"; }
check "sel-unix-simple: runs, pairs, (1.2 x 0.8 x 1.0)^(1/3)" "$(row sel-unix-simple)" "2 3 0.986"
check "sel-tcp-simple: runs, pairs, (1.0 x 0.5)^(1/2)" "$(row sel-tcp-simple)" "2 2 0.707"
check "select workloads together: (1.2 x 0.8 x 1.0 x 1.0 x 0.5)^(1/5)" "$(row 'sel-* together')" "2 5 0.863"
check "an unclean pair is left out" "$(row tpcb-unix)" ""
check "fixed rate is left out" "$(row fixed-rate)" ""

"$POOL" --mode full --reps 200 "$TEST_TMP/a.json" "$TEST_TMP/c.json" >"$TEST_TMP/full" 2>&1
check "--mode full: only that mode's run" "$(awk '$1 == "sel-unix-simple" { print $2, $3, $4 }' "$TEST_TMP/full")" "1 1 0.100"

echo '{"schema": "dblat-bench-consumer/1"}' >"$TEST_TMP/notbench.json"
"$POOL" "$TEST_TMP/notbench.json" >"$TEST_TMP/bad.out" 2>"$TEST_TMP/bad.err"
check "not a result: status" $? 1
check "not a result: one line on stderr" "$(grep -c . "$TEST_TMP/bad.err")" 1
"$POOL" >/dev/null 2>&1
check "no file: status" $? 2
"$POOL" --reps x "$TEST_TMP/a.json" >/dev/null 2>&1
check "bad --reps: status" $? 2
finish
