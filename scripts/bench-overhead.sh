#!/usr/bin/env bash
# What dblat costs the traced workload: pgbench throughput and fixed-rate p99
# latency with dblat attached versus without, on one private cluster, in
# alternating pairs (untraced A, traced B, A, B, ...). Also dblat's own CPU,
# the run time of its BPF programs, its event rate, drops, memory, (with
# --floor) the floor under it (the same hooks with empty programs, and socket
# tracepoints for comparison) and (full mode) two bpftrace designs for
# comparison: libpq uprobes and PostgreSQL's USDT probes.
#
# usage: scripts/bench-overhead.sh [--quick] [--out FILE] [--seconds T] [--fixed-seconds T]
#            [--pairs N] [--mode NAME] [--dblat-args "ARGS"] [--no-compare] [--compare] [--floor]
#            [--workloads W1,W2..] [--rate-pct P] [--no-bpf-stats] [--scale N]
#            [--clients N] [--pause-damon] [--keep]
#
#   --quick          < 3 min: select over unix+prepared and tcp+simple, fixed
#                    rate; no TPC-B-like run, no bpftrace comparisons (--compare
#                    and --workloads add them back)
#   (default)        < 15 min: select over {unix,tcp} x {simple,prepared},
#                    TPC-B-like, fixed rate; bpftrace uprobe and USDT comparisons
#                    in 2 pairs each
#   --out FILE       results JSON (default out/bench-overhead.json)
#   --seconds T      length of one pgbench run (quick 4, full 10)
#   --fixed-seconds T  length of a fixed-rate run (quick 5, full 30). Its p99
#                    is the top 1% of the run's calls: a 10 s run saw a few of
#                    dblat's windows, and one or two stalls of the VM decided it
#   --pairs N        untraced/traced pairs (default 3, at least 3 recommended)
#   --mode NAME      label of the dblat probe mode measured (default "default");
#                    without --dblat-args a mode other than "default" passes
#                    "--NAME" to dblat
#   --dblat-args S   extra dblat arguments, word-split (e.g. "--server-stages")
#   --client-only    dblat traces pgbench alone (-c pgbench, not the server): what an
#                    application host whose database is elsewhere pays (the floor
#                    arms, with --floor, still work at both ends)
#   --workloads L    comma list from: sel-unix-simple sel-unix-prepared sel-tcp-simple
#                    sel-tcp-prepared tpcb-unix fixed-rate, and sel-tls-simple
#                    sel-tls-prepared (TCP with PGSSLMODE=require; with either, the
#                    cluster has ssl = on and the other TCP workloads say sslmode=disable)
#   --rate-pct P     fixed-rate run at P% of the untraced max measured first (default 25:
#                    pgbench -R pays a wake-up per transaction, so 50% of the max
#                    keeps 2 CPUs about 80% busy, and there the untraced p99 alone
#                    ranged 6 to 69 ms over identical 3 s runs with a 0.3 ms p50:
#                    schedule lag, not service time; a p99 ratio needs a stable baseline)
#   --floor          floor arms (a design study, about 3 min): empty BPF programs on
#                    sys_exit + sk_data_ready, and on sock_send_length + sock_recv_length,
#                    against sel-unix-prepared (what the hooks alone cost;
#                    scripts/bench/hook-floor, built by make bench); and the least
#                    per-statement work with no events, timing every statement at both
#                    ends on the socket tracepoints (scripts/bench/steady-floor)
#   --no-bpf-stats   no profile block: kernel.bpf_stats_enabled left alone, no BPF run-time figures
#   --pause-damon    turn the kernel's DAMON monitor off for the run (and back on after): on
#                    these VMs it stalls the machine 10 to 25 ms every half second, which
#                    sets the fixed-rate p99 of every arm (the JSON says which was measured)
#   --keep           keep the temp dir (cluster gone, logs and dblat JSON kept)
#
# Design notes
# - dblat takes seconds to load and verify its programs, so one traced
#   session covers one pass over all workloads ("block"); pair i is the
#   untraced block i and the traced block i, untraced first in odd pairs and
#   traced first in even ones. Each block begins with a discarded load. Per-workload dblat CPU
#   and BPF figures come from samples taken around each run inside the block;
#   events/s, drops, RSS and map memory are per traced session.
# - p99 at fixed rate: computed here from pgbench -l per-transaction logs; the
#   latency column counts from each transaction's scheduled start (includes
#   schedule lag), i.e. what an open-loop client sees at that rate. The
#   service latency (time - lag) is reported too.
# - "other CPU %": busy time of the whole machine (/proc/stat) not charged to
#   this benchmark's processes (cluster, pgbench, tracer), as % of all CPUs:
#   load from elsewhere that makes a pair noisy.
# - "CPU/tx": CPU seconds of the cluster (postmaster, its live and reaped
#   children), pgbench and the tracer per transaction. BPF programs run in the
#   traced syscalls, so their time is in there. On a saturated machine the
#   throughput ratio is about untraced CPU/tx / traced CPU/tx: the table
#   shows that implied ratio beside the measured one. Both degrade when other
#   load shares the machine (see "other CPU %").
# - Pairs during which someone else's tracing BPF programs were loaded (another
#   dblat or bpftrace: syscall tracepoints tax every process) are marked "*";
#   medians use the clean pairs of a workload when it has any.
# - Syscall tax: CPU per syscall of a process dblat does not target (dd with
#   1-byte blocks), with and without dblat attached, in every block.
# - The exit status is 0 whatever the targets say, unless nothing could be measured.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/bench/lib.sh"

QUICK=0
OUT=
SECS=
PAIRS=3
MODE=default
DBLAT_ARGS=
DBLAT_ARGS_SET=0
COMPARE=
FLOOR=0
FR_SECS=
CLIENT_ONLY=0
FLOOR_BIN=$HERE/bench/hook-floor
STEADY_BIN=$HERE/bench/steady-floor
BPF_STATS=1
SCALE=10
CLIENTS=4
THREADS=2
LIBPQ=${LIBPQ:-/usr/lib/x86_64-linux-gnu/libpq.so.5}
WL_OPT=
RATE_PCT=25
PAUSE_DAMON=0
# The first second of a fixed-rate run is left out of its percentiles (scripts/bench/pct.sh --skip-s).
FR_SKIP_S=1

usage() { sed -n '/^# usage:/,/^# *--keep/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--out) OUT=$2; shift ;;
	--out=*) OUT=${1#*=} ;;
	--seconds) SECS=$2; shift ;;
	--fixed-seconds) FR_SECS=$2; shift ;;
	--pairs) PAIRS=$2; shift ;;
	--mode) MODE=$2; shift ;;
	--mode=*) MODE=${1#*=} ;;
	--dblat-args) DBLAT_ARGS=$2; DBLAT_ARGS_SET=1; shift ;;
	--dblat-args=*) DBLAT_ARGS=${1#*=}; DBLAT_ARGS_SET=1 ;;
	--no-compare) COMPARE=0 ;;
	--compare) COMPARE=1 ;;
	--floor) FLOOR=1 ;;
	--no-floor) FLOOR=0 ;;
	--client-only) CLIENT_ONLY=1 ;;
	--no-bpf-stats) BPF_STATS=0 ;;
	--scale) SCALE=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--workloads) WL_OPT=$2; shift ;;
	--rate-pct) RATE_PCT=$2; shift ;;
	--pause-damon) PAUSE_DAMON=1 ;;
	--keep) KEEP_TMP=1 ;;
	-h | --help) usage ;;
	*) echo "bench-overhead.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	# A budget's windows come every 4 s, and a run holding none has no rate or p99 within it
	# (its first and last half second are left out). Of 4 s runs, 9 of 12 in two quick runs
	# held one (the misses: the first workload of a block); of 3 s runs, often none did. A
	# fixed-rate run of 5 s (the first second left out) spans the start of one.
	SECS=${SECS:-4}
	FR_SECS=${FR_SECS:-5}
	COMPARE=${COMPARE:-0}
	TAX_BLOCKS=${TAX_BLOCKS_QUICK:-100000}
	TAX_REPS=2
	# Arms besides dblat's (--floor, --compare) run 1 pair: three floor arms in 3 pairs took
	# the quick run past 3 minutes (183 s); in 2 pairs, where a syscall takes 1.2 us, to 194 s.
	ARM_PAIRS=${ARM_PAIRS:-1}
	WORKLOADS=(sel-unix-prepared sel-tcp-simple fixed-rate)
	BLOCK_WARM_SECS=${BLOCK_WARM_SECS:-1}
else
	SECS=${SECS:-10}
	FR_SECS=${FR_SECS:-30}
	COMPARE=${COMPARE:-1}
	# Where a syscall takes 1.2 us (this kind of VM), five arms in 3 pairs and 300,000-block
	# taxes took the full run to 15 min 53 s.
	TAX_BLOCKS=${TAX_BLOCKS:-200000}
	ARM_PAIRS=${ARM_PAIRS:-$((PAIRS < 2 ? PAIRS : 2))}
	WORKLOADS=(sel-unix-simple sel-unix-prepared sel-tcp-simple sel-tcp-prepared tpcb-unix fixed-rate)
	BLOCK_WARM_SECS=${BLOCK_WARM_SECS:-2}
fi
[ -z "$WL_OPT" ] || read -r -a WORKLOADS <<<"${WL_OPT//,/ }"
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] || bdie "--seconds wants a whole number >= 1"
[[ "$FR_SECS" =~ ^[0-9]+$ ]] && [ "$FR_SECS" -ge 2 ] || bdie "--fixed-seconds wants a whole number >= 2"
[[ "$PAIRS" =~ ^[0-9]+$ ]] && [ "$PAIRS" -ge 1 ] || bdie "--pairs wants a number >= 1"
[[ "$RATE_PCT" =~ ^[0-9]+$ ]] && [ "$RATE_PCT" -ge 1 ] && [ "$RATE_PCT" -le 100 ] || bdie "--rate-pct wants 1..100"
if [ "$DBLAT_ARGS_SET" = 0 ] && [ "$MODE" != default ]; then
	DBLAT_ARGS="--$MODE"
fi
OUT=${OUT:-$REPO_ROOT/out/bench-overhead.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

bench_need jq ss bpftool /usr/bin/time
[ "$COMPARE" = 0 ] || bench_need bpftrace
[ "$FLOOR" = 0 ] || [ -x "$FLOOR_BIN" ] || bdie "$FLOOR_BIN is missing: run make bench (or pass --no-floor)"
[ "$FLOOR" = 0 ] || [ -x "$STEADY_BIN" ] || bdie "$STEADY_BIN is missing: run make bench (or pass --no-floor)"
bench_init overhead
DAMON_AT_START=$(damon_state)
[ "$PAUSE_DAMON" = 0 ] || damon_pause
RUNS="$BENCH_TMP/runs.jsonl"
BLOCKS="$BENCH_TMP/blocks.jsonl"
: >"$RUNS"
: >"$BLOCKS"
T_START=$(now_s)
NCPU=$(nproc)
read -r -a DBLAT_EXTRA <<<"$DBLAT_ARGS"

# ---------------------------------------------------------------------------
# Workloads: transport and pgbench arguments (besides -n -c -j -T).

declare -A W_TR W_ARGS W_STMTS
W_TR[sel-unix-simple]=unix; W_ARGS[sel-unix-simple]="-S -M simple"
W_TR[sel-unix-prepared]=unix; W_ARGS[sel-unix-prepared]="-S -M prepared"
W_TR[sel-tcp-simple]=tcp; W_ARGS[sel-tcp-simple]="-S -M simple"
W_TR[sel-tcp-prepared]=tcp; W_ARGS[sel-tcp-prepared]="-S -M prepared"
W_TR[tpcb-unix]=unix; W_ARGS[tpcb-unix]="-M simple"
W_TR[fixed-rate]=unix; W_ARGS[fixed-rate]="-S -M prepared"
W_TR[sel-tls-simple]=tls; W_ARGS[sel-tls-simple]="-S -M simple"
W_TR[sel-tls-prepared]=tls; W_ARGS[sel-tls-prepared]="-S -M prepared"
for w in "${!W_TR[@]}"; do W_STMTS[$w]=1; done
W_STMTS[tpcb-unix]=7 # BEGIN, 3 UPDATE, SELECT, INSERT, END
for w in "${WORKLOADS[@]}"; do
	[ -n "${W_TR[$w]:-}" ] || bdie "unknown workload $w"
done
W_STMTS_JSON=$(for w in "${!W_STMTS[@]}"; do printf '{"%s":%s}\n' "$w" "${W_STMTS[$w]}"; done | jq -cs add)
RATE=

# ---------------------------------------------------------------------------
# CPU accounting

# "busy total" jiffies of the whole machine.
sys_ticks() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat; }

# CPU ticks of the cluster: the postmaster, its reaped children (backends that
# ended) and its live children.
pg_tree_ticks() {
	local s=0 p v
	v=$(sed -E 's/^.*\) //' "/proc/$PG_PID/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
	s=$((s + ${v:-0}))
	for p in $(pgrep -P "$PG_PID" 2>/dev/null); do
		v=$(sed -E 's/^.*\) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# ---------------------------------------------------------------------------
# The names of an arm's own BPF programs start with this; nothing for a tool
# whose programs the bench cannot tell apart (bpftrace, the empty floors).
# Arms that have it get a profile block ("ARM-profile") with statistics on.
prog_prefix() {
	case $1 in dblat*) echo dbl_ ;; floor-steady*) echo steady_ ;; esac
}

# One pgbench run: appends one JSON line to $RUNS.
#   run_load WORKLOAD ARM PAIR [BLOCK_ID]
# ARM is untraced, dblat, a floor or a comparison tool; a tracer, if any, is
# TRACER_PID.
run_load() {
	local w=$1 arm=$2 pair=$3 block=${4:-null}
	local tr=${W_TR[$w]} host sslmode=disable extra=() logpfx='' irpfx='' inrun=null inrun_p99=null out tf
	local fb0 fb1 fbn0 fbn1 s0 s1 s0t s1t pg0 pg1 tk0=0 tk1=0 b0="0 0 0" b1="0 0 0" t0 t1 res pct=null tps ntx lat
	local p0='{}' p1='{}' secs=$SECS
	case $tr in unix) host=$PG_SOCK ;; tcp) host=127.0.0.1 ;; tls) host=127.0.0.1 sslmode=require ;; esac
	read -r -a extra <<<"${W_ARGS[$w]}"
	out="$BENCH_TMP/pgb.$w.$arm.$pair.out"
	tf="$BENCH_TMP/pgb.$w.$arm.$pair.time"
	if [ "$w" = fixed-rate ]; then
		logpfx="$BENCH_TMP/fr.$arm.$pair"
		extra+=(-R "$RATE" -l --log-prefix="$logpfx")
		secs=$FR_SECS
	else
		# Per-transaction logs in both arms, for the rate within traced runs.
		irpfx="$BENCH_TMP/ir.$w.$arm.$pair"
		extra+=(-l --log-prefix="$irpfx")
	fi
	if [ -n "$TRACER_PID" ]; then
		if [[ "$arm" == *-profile ]]; then
			b0=$(bpf_prog_stats "$TRACER_PID" "$(prog_prefix "$arm")")
			p0=$(bpf_prog_stats_json "$TRACER_PID" "$(prog_prefix "$arm")")
		fi
		tk0=$(proc_cpu_ticks "$TRACER_PID")
	fi
	read -r fb0 fbn0 < <(foreign_tracing_progs "$TRACER_PID")
	read -r s0 s0t < <(sys_ticks)
	pg0=$(pg_tree_ticks)
	t0=$(now_s)
	/usr/bin/time -f '%U %S' -o "$tf" timeout $((secs + 60)) env PGSSLMODE="$sslmode" \
		"$PG_BIN/pgbench" -h "$host" -p "$PG_PORT" -U postgres -n -c "$CLIENTS" -j "$THREADS" \
		-T "$secs" "${extra[@]}" bench >"$out" 2>&1 || {
		echo "pgbench failed ($w, $arm, pair $pair):" >&2
		tail -n 5 "$out" >&2
	}
	t1=$(now_s)
	read -r s1 s1t < <(sys_ticks)
	if [ -n "$TRACER_PID" ]; then
		tk1=$(proc_cpu_ticks "$TRACER_PID")
		if [[ "$arm" == *-profile ]]; then
			b1=$(bpf_prog_stats "$TRACER_PID" "$(prog_prefix "$arm")")
			p1=$(bpf_prog_stats_json "$TRACER_PID" "$(prog_prefix "$arm")")
		fi
	fi
	sleep 0.2 # let the postmaster reap the backends, so their CPU shows in its cutime
	pg1=$(pg_tree_ticks)
	read -r fb1 fbn1 < <(foreign_tracing_progs "$TRACER_PID")
	read -r tps ntx lat < <(pgb_parse "$out")
	local pgb_cpu
	pgb_cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { print $1 + $2 }' "$tf" 2>/dev/null | tail -n 1)
	if [ -n "$logpfx" ] && compgen -G "$logpfx.*" >/dev/null; then
		pct=$("$HERE/bench/pct.sh" --skip-s "$FR_SKIP_S" "$logpfx".*)
		[ "$block" = null ] || [ ! -f "$BENCH_TMP/dblat.$block.err" ] ||
			inrun_p99=$("$HERE/bench/inrun-p99.sh" --skip-s "$FR_SKIP_S" "$BENCH_TMP/dblat.$block.err" "$logpfx".*)
		# An untraced run's logs wait for its pair's traced run: placebo_inrun_p99.
		[ "$arm" = untraced ] && [ "$pair" -ge 1 ] || rm -f "$logpfx".*
	fi
	if [ -n "$irpfx" ] && compgen -G "$irpfx.*" >/dev/null; then
		[ "$block" = null ] || [ ! -f "$BENCH_TMP/dblat.$block.err" ] ||
			inrun=$(awk -f "$HERE/bench/inrun.awk" "$BENCH_TMP/dblat.$block.err" "$irpfx".*)
		rm -f "$irpfx".*
	fi
	# A reading that came back empty (seen once in a full run: the start's /proc reads of the
	# tracer) leaves its figures null and says so; the run's record is kept.
	local v missing=
	for v in tk0 tk1 fb0 fb1 s0 s1 s0t s1t pg0 pg1; do
		[ -n "${!v}" ] && continue
		if [ "$v" = tk0 ] || [ "$v" = tk1 ]; then [ -n "$TRACER_PID" ] || { printf -v "$v" 0; continue; }; fi
		printf -v "$v" null
		missing+=" $v"
	done
	[ -z "$missing" ] || blog "  $w $arm pair $pair: could not read$missing; the figures made from them are left out"
	res=$(jq -cn --arg w "$w" --arg arm "$arm" --argjson pair "$pair" --argjson block "$block" \
		--argjson tps "$tps" --argjson ntx "$ntx" --argjson lat "$lat" \
		--argjson t0 "$t0" --argjson t1 "$t1" \
		--argjson s0 "$s0" --argjson s1 "$s1" --argjson s0t "$s0t" --argjson s1t "$s1t" \
		--argjson pg0 "$pg0" --argjson pg1 "$pg1" --argjson pgb "${pgb_cpu:-0}" \
		--argjson tk0 "$tk0" --argjson tk1 "$tk1" --argjson hz "$CLK_TCK" --argjson ncpu "$NCPU" \
		--arg b0 "$b0" --arg b1 "$b1" --argjson p0 "$p0" --argjson p1 "$p1" \
		--argjson pct "$pct" --argjson inrun "${inrun:-null}" --argjson inrun_p99 "${inrun_p99:-null}" --arg rate "${RATE:-}" \
		--argjson fb0 "$fb0" --argjson fb1 "$fb1" --arg fbn "$fbn0 $fbn1" \
		--arg args "${W_ARGS[$w]}" --arg tr "${W_TR[$w]}" '
		def since(a; b): if a == null or b == null then null else b - a end;
		def ticks(a; b): since(a; b) | if . == null then null else . / $hz end;
		def sum3(a; b; c): if a == null or b == null or c == null then null else a + b + c end;
		($b0 | split(" ") | map(tonumber)) as $b0 | ($b1 | split(" ") | map(tonumber)) as $b1
		| ($t1 - $t0) as $wall | $wall as $win
		| ticks($s0; $s1) as $busy
		| sum3(ticks($pg0; $pg1); $pgb; ticks($tk0; $tk1)) as $ours
		| {workload: $w, arm: $arm, pair: $pair, block: $block, transport: $tr,
		   pgbench_args: $args, rate: (if $rate == "" then null else ($rate | tonumber) end),
		   tps: $tps, transactions: $ntx, latency_avg_ms: $lat, wall_s: $wall,
		   machine_busy_pct: (if $busy == null then null else 100 * $busy / ($win * $ncpu) end),
		   other_cpu_pct: (if $busy == null or $ours == null then null else [0, 100 * ($busy - $ours) / ($win * $ncpu)] | max end),
		   foreign_tracing_progs: ([$fb0, $fb1] | max),
		   foreign_tracing_names: ($fbn | split(" ") | map(select(. != "-") | split(",")) | add // [] | unique),
		   cluster_cpu_s: ticks($pg0; $pg1), pgbench_cpu_s: $pgb,
		   tracer_cpu_s: ticks($tk0; $tk1),
		   cpu_us_per_tx: (if ($ntx // 0) > 0 and $ours != null then 1e6 * $ours / $ntx else null end),
		   tracer_cpu_pct: (if ($arm | startswith("untraced")) or ticks($tk0; $tk1) == null then null
		                    else 100 * ticks($tk0; $tk1) / $wall end),
		   bpf: (if ($arm | endswith("-profile") | not) or ($b1[2] == 0) then null else
		         {progs: $b1[2], run_time_ns: ($b1[0] - $b0[0]), run_cnt: ($b1[1] - $b0[1]),
		          ns_per_run: (if $b1[1] > $b0[1] then ($b1[0] - $b0[0]) / ($b1[1] - $b0[1]) else null end),
		          runs_per_s: (($b1[1] - $b0[1]) / $wall),
		          cpu_pct: (100 * ($b1[0] - $b0[0]) / 1e9 / $wall),
		          programs: ($p1 | with_entries(.key as $k | .value = {
		                      run_time_ns: (.value[0] - ($p0[$k][0] // 0)),
		                      run_cnt: (.value[1] - ($p0[$k][1] // 0))}))} end),
		   latency: $pct, inrun: $inrun, inrun_p99: $inrun_p99}')
	echo "$res" >>"$RUNS"
	LAST_TPS=$tps
	blog "  $w $arm pair $pair: tps $tps$([ "$fb0$fb1" = 00 ] || [ "$fb0$fb1" = 0null ] || [ "$fb0$fb1" = null0 ] || echo " (foreign tracing progs: $fb0/$fb1)")$([ "$pct" = null ] || echo ", p99 $(jq -r '.total.p99_us' <<<"$pct") us")$([ -z "$TRACER_PID" ] || echo ", tracer CPU $(jq -r '.tracer_cpu_pct | if . == null then "?" else . * 10 | round / 10 end' <<<"$res")%")"
}

# The in-run p99 of each untraced fixed-rate run with its pair's traced run's
# hooks laid over it (aligned at the runs' starts): the same statistic where
# no hook ran, so what it reads by chance (the stalls of a VM fall on any
# stretch) sits beside what it reads traced. Written into the untraced run's
# record as inrun_p99_placebo.
placebo_inrun_p99() {
	local pair t u blk d_us r
	[[ " ${WORKLOADS[*]} " == *" fixed-rate "* ]] || return 0
	for ((pair = 1; pair <= PAIRS; pair++)); do
		read -r blk t < <(jq -r --argjson p "$pair" 'select(.workload == "fixed-rate" and .arm == "dblat" and .pair == $p)
			| "\(.block) \(.latency.t0_us // "null")"' "$RUNS" | tail -n 1)
		u=$(jq -r --argjson p "$pair" 'select(.workload == "fixed-rate" and .arm == "untraced" and .pair == $p)
			| .latency.t0_us // "null"' "$RUNS" | tail -n 1)
		if [[ "$t" =~ ^[0-9]+$ ]] && [[ "$u" =~ ^[0-9]+$ ]] && [ -f "$BENCH_TMP/dblat.$blk.err" ] &&
			compgen -G "$BENCH_TMP/fr.untraced.$pair.*" >/dev/null; then
			d_us=$((u - t))
			r=$("$HERE/bench/inrun-p99.sh" --skip-s "$FR_SKIP_S" --shift-us "$d_us" "$BENCH_TMP/dblat.$blk.err" \
				"$BENCH_TMP/fr.untraced.$pair".*) && jq -e . >/dev/null 2>&1 <<<"$r" &&
				jq -c --argjson p "$pair" --argjson r "$r" 'if .workload == "fixed-rate" and .arm == "untraced" and .pair == $p
					then .inrun_p99_placebo = $r else . end' "$RUNS" >"$RUNS.new" && mv "$RUNS.new" "$RUNS" &&
				blog "  fixed-rate pair $pair: in-run p99 of the untraced run under the traced run's hooks (placebo) $(jq -r .ratio <<<"$r")"
		fi
		rm -f "$BENCH_TMP/fr.untraced.$pair".*
	done
}

# Each block (untraced or traced) begins with a discarded load at the
# maximum rate: the runs measured are in a steady state. Under its default
# budget dblat traces a load that has just begun whole until it is judged
# over the budget (well under a second), and that start is reported per
# session ("traced whole"), not spread over the first run's ratio.
WARM_TX=0
block_warm_up() {
	local _tps ntx _lat
	WARM_TX=0
	[ "$BLOCK_WARM_SECS" -gt 0 ] || return 0
	"$PG_BIN/pgbench" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -n -S -M prepared -c "$CLIENTS" -j "$THREADS" \
		-T "$BLOCK_WARM_SECS" bench >"$BENCH_TMP/block-warm.out" 2>&1 || true
	read -r _tps ntx _lat < <(pgb_parse "$BENCH_TMP/block-warm.out")
	[ "$ntx" = null ] || WARM_TX=$ntx
}

# ---------------------------------------------------------------------------
# Syscall tax: what a process dblat does not target pays per syscall while
# dblat is attached (syscall tracepoints fire for every process; the filter
# runs inside the BPF program). dd moving 1-byte blocks from /dev/zero to
# /dev/null: one read and one write per block. Minimum CPU over the reps.
#   syscall_tax ARM PAIR
TAX_BLOCKS=${TAX_BLOCKS:-300000}
TAX_REPS=${TAX_REPS:-5}
syscall_tax() {
	local arm=$1 pair=$2 i c best='' all=() fb _fbn
	read -r fb _fbn < <(foreign_tracing_progs "$TRACER_PID")
	for ((i = 0; i < TAX_REPS; i++)); do
		/usr/bin/time -f '%U %S' -o "$BENCH_TMP/tax.time" \
			dd if=/dev/zero of=/dev/null bs=1 count="$TAX_BLOCKS" 2>/dev/null || return 0
		c=$(awk 'NF == 2 { print $1 + $2 }' "$BENCH_TMP/tax.time" | tail -n 1)
		all+=("$c")
		best=$(awk -v a="${best:-1e9}" -v b="$c" 'BEGIN { print (b < a) ? b : a }')
	done
	jq -cn --arg arm "$arm" --argjson pair "$pair" --argjson best "$best" --argjson n "$TAX_BLOCKS" \
		--argjson fb "$fb" --arg all "${all[*]}" '
		{arm: $arm, pair: $pair, syscalls: (2 * $n), cpu_s: ($all | split(" ") | map(tonumber)),
		 ns_per_syscall: ($best * 1e9 / (2 * $n)), foreign_tracing_progs: $fb}' >>"$BENCH_TMP/tax.jsonl"
	blog "  syscall tax $arm pair $pair: $(awk -v b="$best" -v n="$TAX_BLOCKS" 'BEGIN { printf "%.0f", b * 1e9 / (2 * n) }') ns/syscall (min of $TAX_REPS)"
}

# ---------------------------------------------------------------------------
# dblat sessions

BLOCK_N=0
dblat_block() {
	local pair=$1 arm=${2:-dblat} json log t0 t1 tk0 hwm rss maps nprogs w rc=0 cpu_end attach_s blk
	BLOCK_N=$((BLOCK_N + 1))
	blk=$BLOCK_N
	json="$BENCH_TMP/dblat.$blk.json"
	log="$BENCH_TMP/dblat.$blk.err"
	[ "$arm" != dblat-profile ] || bpf_stats_on
	t0=$(now_s)
	local target=(-p "$PG_PID" -c pgbench)
	[ "$CLIENT_ONLY" = 0 ] || target=(-c pgbench)
	if ! tracer_start dblat '^dblat: attached' "$log" 120 \
		"$DBLAT" "${target[@]}" --json "$json" -v "${DBLAT_EXTRA[@]}"; then
		echo "dblat did not attach: block $blk skipped" >&2
		echo "{\"block\":$blk,\"pair\":$pair,\"error\":\"dblat did not attach\"}" >>"$BLOCKS"
		return 1
	fi
	t1=$(now_s)
	attach_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	blog " dblat attached in $attach_s s (pid $TRACER_PID${DBLAT_ARGS:+, args $DBLAT_ARGS})"
	sleep 1 # let the attach work (and its CPU) settle
	block_warm_up
	local warm_tx=$WARM_TX
	tk0=$(proc_cpu_ticks "$TRACER_PID")
	local ts0
	ts0=$(now_s)
	for w in "${WORKLOADS[@]}"; do
		run_load "$w" "$arm" "$pair" "$blk"
	done
	[ "$arm" != dblat ] || syscall_tax dblat "$pair"
	# Figures that vanish with the process: take them before SIGINT.
	cpu_end=$(proc_cpu_ticks "$TRACER_PID")
	local ts1
	ts1=$(now_s)
	hwm=$(proc_hwm_kib "$TRACER_PID")
	rss=$(proc_rss_kib "$TRACER_PID")
	maps=$(bpf_map_bytes "$TRACER_PID")
	local progjson
	progjson=$(bpf_prog_stats_json "$TRACER_PID")
	nprogs=$(jq 'length' <<<"$progjson")
	tracer_stop 60 || rc=$?
	wait_progs_gone 5
	[ "$arm" != dblat-profile ] || bpf_stats_restore
	if [ "$rc" -ne 0 ]; then
		echo "dblat exited with status $rc (block $blk); stderr:" >&2
		tail -n 10 "$log" >&2
	fi
	if ! jq -e '.schema == "dblat/1"' "$json" >/dev/null 2>&1; then
		echo "dblat wrote no valid JSON in block $blk" >&2
		echo "{\"block\":$blk,\"pair\":$pair,\"error\":\"no valid dblat JSON\",\"exit\":$rc}" >>"$BLOCKS"
		return 1
	fi
	# Statements dblat should have seen: one per -S transaction, 7 per TPC-B one.
	local expect
	# ... and one per transaction of the warm-up (-S), which dblat traced too.
	expect=$(jq -s --argjson blk "$blk" --argjson stm "$W_STMTS_JSON" --argjson warm "$warm_tx" \
		'[ .[] | select(.block == $blk and (.arm | startswith("dblat"))) | (.transactions // 0) * ($stm[.workload] // 1) ] | add // 0 | . + $warm' "$RUNS")
	jq -c --argjson blk "$blk" --argjson pair "$pair" --argjson rc "$rc" \
		--argjson attach "$attach_s" --argjson hwm "${hwm:-0}" --argjson rss "${rss:-0}" \
		--argjson maps "${maps:-0}" --argjson nprogs "${nprogs:-0}" --argjson progs "$progjson" \
		--argjson tk0 "$tk0" --argjson tk1 "$cpu_end" --argjson hz "$CLK_TCK" \
		--argjson ts0 "$ts0" --argjson ts1 "$ts1" --argjson expect "$expect" '
		{block: $blk, pair: $pair, exit: $rc, attach_s: $attach,
		 duration_s: .duration_s, events: .events,
		 events_per_s: (if (.duration_s // 0) > 0 then .events.received / .duration_s else null end),
		 dropped: .events.dropped,
		 reader_raised_s: (.events.reader_raised_s // 0),
		 traced_whole_s: (.sampling.full_s // null),
		 windows: (.sampling.windows // null),
		 cpu_pct_over_loads: (100 * (($tk1 - $tk0) / $hz) / ($ts1 - $ts0)),
		 vm_hwm_kib: $hwm, vm_rss_kib: $rss, bpf_map_bytes: $maps, bpf_progs: $nprogs,
		 bpf_prog_stats: $progs,
		 statements_expected: $expect,
		 calls_client: ([ .statements[]? | select(.side == "client") | .calls ] | add // 0),
		 calls_server: ([ .statements[]? | select(.side == "server") | .calls ] | add // 0),
		 statement_rows: (.statements | length)}' "$json" >>"$BLOCKS"
	blog " dblat block $blk: $(jq -r '"events/s \(.events_per_s | floor), dropped \(.dropped), HWM \(.vm_hwm_kib / 1024 | floor) MiB, client calls \(.calls_client)/\(.statements_expected), server calls \(.calls_server)\(if .windows then ", \(.windows) windows, every call traced \(.traced_whole_s) s" else "" end)"' <<<"$(tail -n 1 "$BLOCKS")")"
}

# ---------------------------------------------------------------------------
# bpftrace comparisons

BT_UPROBE="uprobe:$LIBPQ:PQsendQueryPrepared, uprobe:$LIBPQ:PQsendQuery { @start[tid] = nsecs; @sends = count(); }
uretprobe:$LIBPQ:PQgetResult /@start[tid]/ { @lat_us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); @done = count(); }"
BT_USDT="usdt:$PG_BIN/postgres:query__start { @start[tid] = nsecs; @sends = count(); }
usdt:$PG_BIN/postgres:query__done /@start[tid]/ { @lat_us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); @done = count(); }"

# compare_tool ARM WORKLOAD READY-REGEX CMD...: PAIRS pairs of WORKLOAD,
# untraced and with CMD running.
compare_tool() {
	local arm=$1 w=$2 ready=$3 pair log rc
	shift 3
	for ((pair = 1; pair <= ${ARM_PAIRS:-$PAIRS}; pair++)); do
		# Its own baseline: the pairs stay adjacent in time, and dblat's keep theirs.
		run_load "$w" "untraced-for-$arm" "$pair"
		log="$BENCH_TMP/$arm.$pair.err"
		if ! tracer_start "$arm" "$ready" "$log" 60 "$@"; then
			echo "$arm: $1 did not attach; comparison skipped" >&2
			return 0
		fi
		sleep 1
		run_load "$w" "$arm" "$pair"
		[[ "$arm" != floor-* ]] || syscall_tax "$arm" "$pair"
		rc=0
		tracer_stop 30 || rc=$?
		wait_progs_gone 5
		# Hits of the start probe and completed pairs, for the runs' JSON.
		local sends done_
		sends=$(awk '/^@sends:/ { print $2 }' "$log.out" | tail -n 1)
		done_=$(awk '/^@done:/ { print $2 }' "$log.out" | tail -n 1)
		# steady-floor: the statements it timed at each end.
		local cc cs
		cc=$(awk '/^@calls_client:/ { print $2 }' "$log.out" | tail -n 1)
		cs=$(awk '/^@calls_server:/ { print $2 }' "$log.out" | tail -n 1)
		jq -cn --arg arm "$arm" --argjson pair "$pair" --argjson s "${sends:-null}" --argjson d "${done_:-null}" --argjson rc "$rc" \
			--argjson cc "${cc:-null}" --argjson cs "${cs:-null}" \
			'{tool: $arm, pair: $pair, start_hits: $s, completed: $d, calls_client: $cc, calls_server: $cs, exit: $rc}' \
			>>"$BENCH_TMP/tools.jsonl"
	done
	# The tool's own BPF time, with statistics on, outside the pairs.
	if [ -n "$(prog_prefix "$arm")" ] && [ "$BPF_STATS" = 1 ] && tracer_start "$arm" "$ready" "$BENCH_TMP/$arm.profile.err" 60 "$@"; then
		bpf_stats_on
		sleep 1
		run_load "$w" "$arm-profile" $((PAIRS + 1))
		bpf_stats_restore
		tracer_stop 30 || true
		wait_progs_gone 5
	fi
}

# ---------------------------------------------------------------------------
# Main

blog "bench-overhead: $([ "$QUICK" = 1 ] && echo quick || echo full), $PAIRS pairs x ${SECS} s (fixed rate ${FR_SECS} s), mode $MODE${DBLAT_ARGS:+ (dblat args: $DBLAT_ARGS)}$([ "$CLIENT_ONLY" = 0 ] || echo ", client end only")"
[[ " ${WORKLOADS[*]} " != *" sel-tls-"* ]] || export BENCH_SSL=1
pg_up "$SCALE"
: >"$BENCH_TMP/tools.jsonl"
: >"$BENCH_TMP/tax.jsonl"

# Warm-up (discarded) and calibration of the fixed rate: --rate-pct of the untraced max.
WARM=$((SECS < 5 ? SECS : 5))
"$PG_BIN/pgbench" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -n -S -M prepared -c "$CLIENTS" -j "$THREADS" -T "$WARM" bench \
	>"$BENCH_TMP/warmup.out" 2>&1 || { tail "$BENCH_TMP/warmup.out" >&2; bdie "warm-up pgbench failed"; }
if [[ " ${WORKLOADS[*]} " == *" tpcb-unix "* ]]; then
	"$PG_BIN/pgbench" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -n -c "$CLIENTS" -j "$THREADS" -T 2 bench \
		>"$BENCH_TMP/warmup2.out" 2>&1 || true
fi
run_load sel-unix-prepared untraced 0
RATE=$(awk -v t="$LAST_TPS" -v p="$RATE_PCT" 'BEGIN { r = int(t * p / 100); if (r < 100) r = 100; print r }')
blog "fixed rate: $RATE tps ($RATE_PCT% of the calibration run's $LAST_TPS)"

for ((pair = 1; pair <= PAIRS; pair++)); do
	# Odd pairs untraced first, even pairs traced first: a drift of the
	# machine over a pair does not fall on one arm.
	if ((pair % 2 == 0)); then
		blog "pair $pair/$PAIRS: dblat"
		dblat_block "$pair" || true
	fi
	blog "pair $pair/$PAIRS: untraced"
	block_warm_up
	for w in "${WORKLOADS[@]}"; do
		run_load "$w" untraced "$pair"
	done
	syscall_tax untraced "$pair"
	if ((pair % 2 == 1)); then
		blog "pair $pair/$PAIRS: dblat"
		dblat_block "$pair" || true
	fi
done
placebo_inrun_p99
if [ "$BPF_STATS" = 1 ]; then
	# Run-time accounting costs every program run two clock reads: it gets
	# a block of its own, outside the pairs, so it does not bend the ratios.
	blog "profile: dblat with kernel.bpf_stats_enabled (not in the ratios)"
	dblat_block $((PAIRS + 1)) dblat-profile || true
fi

if [ "$FLOOR" = 1 ]; then
	# What the hooks cost before any program does any work: dblat's own
	# on this workload (the raw syscall exit, the Unix send stamp), and
	# socket tracepoints that only socket calls pay, for the design that
	# would move to them.
	blog "floor: empty programs on sys_exit + sk_data_ready (dblat's hooks on this workload)"
	compare_tool floor-hooks sel-unix-prepared '^attached' "$FLOOR_BIN" sys_exit sk_data_ready
	blog "floor: empty programs on sock_send_length + sock_recv_length"
	compare_tool floor-sockets sel-unix-prepared '^attached' "$FLOOR_BIN" sock_send_length sock_recv_length
	# The design without syscall hooks and without events in the steady
	# state, reduced to its hot path: the cost no such design goes under.
	blog "floor: the least per-statement work at both ends, no events (socket tracepoints)"
	compare_tool floor-steady sel-unix-prepared '^attached' "$STEADY_BIN" postgres pgbench
fi
if [ "$COMPARE" = 1 ]; then
	blog "comparison: bpftrace libpq uprobes (PQsendQuery*/PQgetResult) on sel-unix-prepared"
	compare_tool bpftrace-uprobe sel-unix-prepared Attaching bpftrace -e "$BT_UPROBE"
	blog "comparison: bpftrace USDT query__start/done on sel-unix-simple"
	compare_tool bpftrace-usdt sel-unix-simple Attaching bpftrace -e "$BT_USDT"
fi

T_END=$(now_s)
pg_down

jq -cn --arg mode "$MODE" --arg dargs "$DBLAT_ARGS" --argjson quick "$QUICK" --argjson secs "$SECS" --argjson frsecs "$FR_SECS" --argjson client_only "$CLIENT_ONLY" \
	--argjson pairs "$PAIRS" --argjson ncpu "$NCPU" --arg kernel "$(uname -r)" --arg damon "$([ "$PAUSE_DAMON" = 0 ] && echo "$DAMON_AT_START" || echo "paused for the run (was: $DAMON_AT_START)")" \
	--argjson scale "$SCALE" --argjson clients "$CLIENTS" --argjson threads "$THREADS" \
	--argjson rate "${RATE:-null}" --argjson ratepct "$RATE_PCT" --argjson frskip "$FR_SKIP_S" --argjson bpfstats "$BPF_STATS" --argjson compare "$COMPARE" \
	--argjson t0 "$T_START" --argjson t1 "$T_END" \
	--arg commit "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" --arg sha "$DBLAT_SHA" \
	--arg dirty "$(git -C "$REPO_ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo yes || echo no)" \
	--arg started "$(date -u -d "@${T_START%.*}" +%Y-%m-%dT%H:%M:%SZ)" \
	--arg wl "${WORKLOADS[*]}" --arg ssl "${BENCH_SSL:-0}" '
	{schema: "dblat-bench-overhead/1", started: $started, elapsed_s: ($t1 - $t0),
	 quick: ($quick == 1), seconds_per_run: $secs, fixed_rate_seconds: $frsecs, pairs: $pairs,
	 dblat: {mode: $mode, args: ($dargs | split(" ") | map(select(. != ""))), binary_sha256_16: $sha,
	         commit: $commit, worktree_modified: ($dirty == "yes"), client_only: ($client_only == 1),
	         command: ("dblat " + (if $client_only == 1 then "" else "-p <postmaster pid> " end)
	                   + "-c pgbench --json FILE" + (if $dargs == "" then "" else " " + $dargs end))},
	 machine: {cpus: $ncpu, kernel: $kernel, damon: $damon},
	 cluster: {scale: $scale, shared_buffers: "128MB", synchronous_commit: "off", autovacuum: "off",
	           fsync: "on", ssl: (if $ssl == "1" then "on" else "off" end)},
	 pgbench: {clients: $clients, threads: $threads, fixed_rate_tps: $rate, fixed_rate_pct_of_max: $ratepct},
	 workloads: ($wl | split(" ")),
	 bpf_stats: (if $bpfstats == 1 then "on in a profile block after the pairs, off in the pairs" else "off" end),
	 comparisons: ($compare == 1),
	 p99_method: "pgbench -l per-transaction logs; latency counted from the scheduled start (includes schedule lag); nearest-rank percentile over the transactions of a run scheduled after its first \($frskip) s (its start: new backends fault in the shared buffers)"}' \
	>"$BENCH_TMP/meta.json"

"$HERE/bench/summarize.sh" --meta "$BENCH_TMP/meta.json" --runs "$RUNS" --blocks "$BLOCKS" \
	--tools "$BENCH_TMP/tools.jsonl" --tax "$BENCH_TMP/tax.jsonl" --out "$OUT"
