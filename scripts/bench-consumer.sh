#!/usr/bin/env bash
# The user-space consumer micro-benchmark: how many events per second of CPU
# dblat's decoder and aggregator handle. Records pgbench -S traffic with
# `dblat record`, then times `dblat report FILE` (user+sys CPU, via
# /usr/bin/time) on that recording: events/s = events.received of the report
# JSON / CPU seconds. The replay has no BPF, no ring buffer and no traced load
# competing for the core, so it measures the consumer alone (zlib inflate
# included; inflating the same file with zlib alone is timed too, to show
# its share).
#
# usage: scripts/bench-consumer.sh [--quick] [--out FILE] [--min-events N] [--seconds S]
#            [--reps N] [--recording FILE] [--keep]
#
#   --min-events N   aim the recording at N events (default 2000000; quick 1000000)
#   --seconds S      record this long (default: until about --min-events, at most 150 s)
#   --reps N         times `dblat report` runs on the recording (default 3; median and
#                    best; a failed run is retried, up to 2N runs in all)
#   --recording F    skip recording: time the report of an existing recording
#   --out FILE       results JSON (default out/bench-consumer.json)
#   --keep           keep the temp dir (the recording stays there)
#
# Target: >= 1,000,000 events/s of CPU (median of the reps). Exit status 0
# whatever the target says, unless nothing could be measured.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/bench/lib.sh"

OUT=
MIN_EVENTS=
SECS=
REPS=3
RECORDING=
QUICK=0
TARGET=1000000
CLIENTS=4
THREADS=2

usage() { sed -n '/^# usage:/,/^# *--keep/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--out) OUT=$2; shift ;;
	--out=*) OUT=${1#*=} ;;
	--min-events) MIN_EVENTS=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--recording) RECORDING=$2; shift ;;
	--keep) KEEP_TMP=1 ;;
	-h | --help) usage ;;
	*) echo "bench-consumer.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
MIN_EVENTS=${MIN_EVENTS:-$([ "$QUICK" = 1 ] && echo 1000000 || echo 2000000)}
[[ "$REPS" =~ ^[0-9]+$ ]] && [ "$REPS" -ge 1 ] || bdie "--reps wants a number >= 1"
OUT=${OUT:-$REPO_ROOT/out/bench-consumer.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

bench_need jq ss /usr/bin/time
# zlib alone on the recording: scripts/bench/inflate.c, built by `make bench`;
# built here if missing or older than its source.
INFLATE="$HERE/bench/inflate"
if [ ! -x "$INFLATE" ] || [ "$INFLATE.c" -nt "$INFLATE" ]; then
	command -v make >/dev/null 2>&1 || bdie "missing command: make (to build $INFLATE)"
	make -s -C "$REPO_ROOT" scripts/bench/inflate >&2 || bdie "could not build $INFLATE (needs cc and zlib's headers)"
fi
bench_init consumer
T_START=$(now_s)
REC_SECS=null
REC_INFO='null'

if [ -z "$RECORDING" ]; then
	pg_up 10
	pgsel() { # pgsel TRANSPORT MODE SECONDS OUTFILE
		local host
		case $1 in unix) host=$PG_SOCK ;; tcp) host=127.0.0.1 ;; esac
		timeout $(($3 + 60)) "$PG_BIN/pgbench" -h "$host" -p "$PG_PORT" -U postgres -n -S -M "$2" \
			-c "$CLIENTS" -j "$THREADS" -T "$3" bench >"$4" 2>&1 ||
			{ tail -n 5 "$4" >&2; bdie "pgbench failed"; }
	}
	pgsel unix prepared 3 "$BENCH_TMP/warmup.out"
	RECORDING="$BENCH_TMP/run.dblat"
	blog "recording pgbench -S until about $MIN_EVENTS events$([ -z "$SECS" ] || echo " or $SECS s") (alternating unix+prepared and tcp+simple chunks)"
	tracer_start dblat-record '^dblat: attached' "$BENCH_TMP/record.err" 120 \
		"$DBLAT" record --full -o "$RECORDING" -p "$PG_PID" -c pgbench --json "$BENCH_TMP/live.json" ||
		bdie "dblat record did not attach"
	sleep 1
	REC_PID=$TRACER_PID
	# Chunks of at most 10 s until the transactions add up to the wanted
	# events (about 4 per -S transaction: a send and a receive on each side),
	# or --seconds, or 150 s.
	LIMIT=${SECS:-150}
	ELAPSED=0
	NTX=0
	CHUNK=0
	TPS_LIST=()
	while [ "$ELAPSED" -lt "$LIMIT" ] && { [ -n "$SECS" ] || [ $((NTX * 4)) -lt "$MIN_EVENTS" ]; }; do
		CHUNK=$((CHUNK + 1))
		len=$((LIMIT - ELAPSED < 10 ? LIMIT - ELAPSED : 10))
		if [ $((CHUNK % 2)) = 1 ]; then
			pgsel unix prepared "$len" "$BENCH_TMP/rec.$CHUNK.out"
		else
			pgsel tcp simple "$len" "$BENCH_TMP/rec.$CHUNK.out"
		fi
		read -r tps ntx _ < <(pgb_parse "$BENCH_TMP/rec.$CHUNK.out")
		NTX=$((NTX + ${ntx%.*}))
		TPS_LIST+=("$tps")
		ELAPSED=$((ELAPSED + len))
	done
	REC_SECS=$ELAPSED
	REC_HWM=$(proc_hwm_kib "$REC_PID")
	REC_CPU=$(proc_cpu_ticks "$REC_PID")
	rc=0
	tracer_stop 120 || rc=$?
	[ "$rc" -eq 0 ] || { tail -n 10 "$BENCH_TMP/record.err" >&2; bdie "dblat record exited with status $rc"; }
	pg_down
	REC_INFO=$(jq -c --argjson secs "$REC_SECS" --arg tps "${TPS_LIST[*]}" --argjson ntx "$NTX" \
		--argjson hwm "${REC_HWM:-0}" --argjson cpu "${REC_CPU:-0}" --argjson hz "$CLK_TCK" '
		{seconds: $secs, load: "pgbench -n -S -c 4 -j 2 in chunks of <= 10 s, alternating unix+prepared and tcp+simple",
		 chunk_tps: ($tps | split(" ") | map(tonumber)), transactions: $ntx,
		 live_events_received: .events.received, live_dropped: .events.dropped,
		 live_calls: ([ .statements[]? | .calls ] | add // 0),
		 recorder_vm_hwm_kib: $hwm, recorder_cpu_s: ($cpu / $hz)}' "$BENCH_TMP/live.json")
	blog "recorded: $(jq -r '"\(.live_events_received) events, \(.live_dropped) dropped, \(.transactions) transactions"' <<<"$REC_INFO")"
fi
[ -s "$RECORDING" ] || bdie "no recording at $RECORDING"
REC_BYTES=$(stat -c %s "$RECORDING")

# zlib's share: inflating the recording alone with the same library
# (scripts/bench/inflate: zlib's inflate into 64 KiB pieces), least CPU of REPS runs.
ZCAT_BEST=
RAW_BYTES=
for ((i = 1; i <= REPS; i++)); do
	RAW_BYTES=$(/usr/bin/time -f '%U %S' -o "$BENCH_TMP/inflate.time" "$INFLATE" "$RECORDING" 2>"$BENCH_TMP/inflate.err") || break
	c=$(awk 'NF == 2 { print $1 + $2 }' "$BENCH_TMP/inflate.time" | tail -n 1)
	ZCAT_BEST=$(awk -v a="${ZCAT_BEST:-1e9}" -v b="${c:-1e9}" 'BEGIN { print (b < a) ? b : a }')
done

: >"$BENCH_TMP/reps.jsonl"
ok=0
for ((i = 1; i <= 2 * REPS && ok < REPS; i++)); do
	rj="$BENCH_TMP/report.$i.json"
	rc=0
	/usr/bin/time -f '%U %S %e %M' -o "$BENCH_TMP/report.$i.time" \
		timeout 600 "$DBLAT" report "$RECORDING" --json "$rj" >"$BENCH_TMP/report.$i.out" 2>"$BENCH_TMP/report.$i.err" || rc=$?
	if [ "$rc" -ne 0 ] || ! jq -e '.schema == "dblat/1"' "$rj" >/dev/null 2>&1; then
		echo "dblat report failed (status $rc):" >&2
		tail -n 5 "$BENCH_TMP/report.$i.err" >&2
		continue
	fi
	ok=$((ok + 1))
	read -r u s e m < <(tail -n 1 "$BENCH_TMP/report.$i.time")
	jq -c --argjson rep "$i" --argjson u "$u" --argjson s "$s" --argjson e "$e" --argjson m "$m" '
		{rep: $rep, user_s: $u, sys_s: $s, wall_s: $e, max_rss_kib: $m,
		 events: .events.received, dropped: .events.dropped, lost_sync: .events.lost_sync,
		 unmatched: .events.unmatched,
		 calls: ([ .statements[]? | .calls ] | add // 0),
		 statement_rows: (.statements | length),
		 events_per_cpu_s: (if ($u + $s) > 0 then .events.received / ($u + $s) else null end)}' "$rj" >>"$BENCH_TMP/reps.jsonl"
	blog "report rep $i: $(jq -r '"\(.events) events in \(.user_s + .sys_s) s CPU (\(.user_s) user, \(.sys_s) sys): \(.events_per_cpu_s // 0 | floor) events/s"' <<<"$(tail -n 1 "$BENCH_TMP/reps.jsonl")")"
done
[ -s "$BENCH_TMP/reps.jsonl" ] || bdie "no report run succeeded"
T_END=$(now_s)

jq -s --argjson target "$TARGET" --argjson rec "$REC_INFO" --argjson bytes "$REC_BYTES" \
	--argjson raw "${RAW_BYTES:-0}" --argjson zcat "${ZCAT_BEST:-null}" \
	--argjson t0 "$T_START" --argjson t1 "$T_END" \
	--arg commit "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" --arg sha "$DBLAT_SHA" \
	--arg started "$(date -u -d "@${T_START%.*}" +%Y-%m-%dT%H:%M:%SZ)" '
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	(map(.events_per_cpu_s) | median) as $med
	| {schema: "dblat-bench-consumer/1", started: $started, elapsed_s: ($t1 - $t0), commit: $commit,
	   dblat_binary_sha256_16: $sha,
	   method: "dblat report RECORDING --json; CPU = user+sys of the process (/usr/bin/time); events = events.received of its JSON",
	   recording: (($rec // {}) + {bytes: $bytes, raw_bytes: $raw,
	                               bytes_per_event: (if .[0].events > 0 then $bytes / .[0].events else null end),
	                               raw_bytes_per_event: (if .[0].events > 0 then $raw / .[0].events else null end)}),
	   events: .[0].events,
	   inflate_cpu_s_best: $zcat,
	   reps: .,
	   events_per_cpu_s_median: $med,
	   events_per_cpu_s_best: (map(.events_per_cpu_s) | max),
	   cpu_s_median: (map(.user_s + .sys_s) | median),
	   ns_per_event_median: (if $med then 1e9 / $med else null end),
	   report_max_rss_kib: (map(.max_rss_kib) | max),
	   replay_matches_live: (if $rec == null then null else (.[0].events == $rec.live_events_received and .[0].calls == $rec.live_calls) end),
	   target: {name: "consumer events/s of CPU (median)", op: ">=", limit: $target,
	            pass: (if $med == null then null else $med >= $target end)}}' \
	"$BENCH_TMP/reps.jsonl" >"$OUT"

jq -r '
	def r(n): . * pow(10; n) | round / pow(10; n);
	"dblat consumer (dblat report of a recording): \(.events) events, \(.recording.bytes) bytes compressed (\(.recording.bytes_per_event // 0 | r(1)) B/event, \(.recording.raw_bytes_per_event // 0 | r(1)) B/event raw)",
	(if .recording.seconds then "  recorded: \(.recording.seconds) s of pgbench -S, \(.recording.transactions) transactions, live: \(.recording.live_events_received) events, \(.recording.live_dropped) dropped, recorder peak RSS \(.recording.recorder_vm_hwm_kib / 1024 | r(1)) MiB" else empty end),
	"  rep   user s   sys s   wall s   RSS MiB   events/s of CPU",
	(.reps[] | "  \(.rep | tostring | .[0:3] | (" " * (3 - length)) + .)   \(.user_s | tostring | (" " * (6 - length)) + .)  \(.sys_s | tostring | (" " * (6 - length)) + .)   \(.wall_s | tostring | (" " * (6 - length)) + .)   \(.max_rss_kib / 1024 | r(1) | tostring | (" " * (7 - length)) + .)   \(.events_per_cpu_s // 0 | floor)"),
	"  median \(.events_per_cpu_s_median // 0 | floor) events/s (\(.ns_per_event_median // 0 | r(0)) ns/event), best \(.events_per_cpu_s_best // 0 | floor)",
	"  zlib inflate alone (same file, least of the reps): \(.inflate_cpu_s_best // 0 | r(2)) s CPU; dblat report: median \(.cpu_s_median | r(2)) s, least \(.reps | map(.user_s + .sys_s) | min | r(2)) s",
	(if .replay_matches_live == null then empty else "  replay matches the live run (events and calls): \(.replay_matches_live)" end),
	"targets:",
	"  \(if .target.pass == null then "n/a " elif .target.pass then "PASS" else "FAIL" end)  \(.target.name): \(.events_per_cpu_s_median // 0 | floor) (target >= \(.target.limit))"' "$OUT"
echo "results: $OUT"
