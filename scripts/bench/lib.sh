# shellcheck shell=bash
# Helpers shared by scripts/bench-overhead.sh and scripts/bench-consumer.sh.
#
#   bench_init NAME          temp dir BENCH_TMP, traps (cleanup on any exit)
#   pg_up [SCALE]            private cluster (own port, own socket dir), pgbench -i -s SCALE
#                            sets PG_DIR PG_PORT PG_SOCK PG_PID
#   pg_down                  fast shutdown, remove the cluster dir
#   pgb ARGS...              the real pgbench binary against the cluster (db "bench")
#   tracer_start NAME LOG CMD...   run a tracer (dblat, bpftrace) in the background with
#                            SIGINT restored, wait for its ready line; sets TRACER_PID
#   tracer_stop [SECS]       SIGINT, bounded wait, SIGKILL as a last resort
#   proc_cpu_ticks PID       utime+stime (clock ticks) of a whole process
#   proc_hwm_kib PID         VmHWM in KiB
#   bpf_ids PID prog|map     BPF object ids PID holds open (from /proc/PID/fdinfo)
#   bpf_prog_stats PID [PFX] "run_time_ns run_cnt nprogs" summed over PID's programs named PFX*
#                            (default dbl_)
#   bpf_map_bytes PID        sum of bytes_memlock over the maps of PID's programs
#   bpf_stats_on / bpf_stats_restore   kernel.bpf_stats_enabled
#
# Every wait is bounded; the EXIT trap stops tracers with SIGINT (so no BPF
# program stays attached), kills loads, stops the cluster, restores sysctls.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DBLAT=${DBLAT:-$REPO_ROOT/dblat}
case "$DBLAT" in /*) ;; *) DBLAT="$PWD/$DBLAT" ;; esac
CLK_TCK=$(getconf CLK_TCK)

unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSWORD PGPASSFILE \
	PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGHOST PGPORT PGDATABASE PGUSER 2>/dev/null || true
export PGCONNECT_TIMEOUT=10

BENCH_TMP=
PG_DIR=
PG_PID=
PG_PORT=
PG_SOCK=
TRACER_PID=
TRACER_NAME=
DBLAT_SHA=unknown
_BG_PIDS=()
_BPF_STATS_ORIG=
KEEP_TMP=${KEEP_TMP:-}

blog() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bdie() {
	echo "$(basename "$0"): $*" >&2
	exit 2
}

now_s() { date +%s.%N; }

_alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_wait_gone() {
	local pid=$1 tenths=$(($2 * 10)) i
	for ((i = 0; i < tenths; i++)); do
		_alive "$pid" || return 0
		sleep 0.1
	done
	! _alive "$pid"
}

# DAMON, the kernel's data access monitor, checks pages for access at
# intervals; on these VMs each check stalls the machine for 10 to 25 ms
# every half second, which sets a fixed-rate p99 traced or not.
damon_state() {
	local d st=absent
	for d in /sys/kernel/mm/damon/admin/kdamonds/*; do
		[ -r "$d/state" ] || continue
		st=$(cat "$d/state")
		[ "$st" = on ] || continue
		echo "on, sampling every $(($(cat "$d/contexts/0/monitoring_attrs/intervals/sample_us" 2>/dev/null || echo 0) / 1000)) ms"
		return
	done
	echo "$st"
}

_DAMON_PAUSED=()
damon_pause() {
	local d
	for d in /sys/kernel/mm/damon/admin/kdamonds/*; do
		[ "$(cat "$d/state" 2>/dev/null)" = on ] || continue
		echo off >"$d/state" && _DAMON_PAUSED+=("$d")
	done
}

damon_restore() {
	local d
	for d in "${_DAMON_PAUSED[@]}"; do
		echo on >"$d/state" || echo "bench: could not turn DAMON back on ($d)" >&2
	done
	_DAMON_PAUSED=()
}

bench_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM HUP
	damon_restore
	tracer_stop 15 >/dev/null 2>&1
	for p in "${_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${_BG_PIDS[@]}"; do
		_wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null
	done
	pg_down >/dev/null 2>&1
	bpf_stats_restore
	if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
		if [ -n "$KEEP_TMP" ]; then
			echo "kept $BENCH_TMP" >&2
		else
			rm -rf "$BENCH_TMP"
		fi
	fi
	exit "$rc"
}

bench_init() {
	local b=${TMPDIR:-/tmp}
	[ -d "$b" ] && [ -w "$b" ] || b=/tmp
	BENCH_TMP=$(mktemp -d "$b/dblat-$1.XXXXXX") || bdie "mktemp failed"
	chmod 755 "$BENCH_TMP"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	# One binary for the whole run: a rebuild in the work tree meanwhile
	# must not change what is measured (the BPF object is inside it).
	if [ -x "$DBLAT" ]; then
		DBLAT_SHA=$(sha256sum "$DBLAT" | cut -c1-16)
		cp "$DBLAT" "$BENCH_TMP/dblat" && DBLAT="$BENCH_TMP/dblat"
	fi
}

bench_need() {
	local c
	[ "$(id -u)" -eq 0 ] || bdie "run as root (dblat loads BPF programs; the cluster runs as 'postgres')"
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || bdie "missing command: $c (run scripts/deps.sh)"
	done
	[ -x "$PG_BIN/initdb" ] || bdie "no PostgreSQL 15 in $PG_BIN (run scripts/deps.sh)"
	id postgres >/dev/null 2>&1 || bdie "no 'postgres' OS user (install postgresql-15)"
	[ -x "$DBLAT" ] || bdie "no dblat binary at $DBLAT: run 'make' first (or set DBLAT=path)"
}

# Run CMD in the background; killed by the cleanup trap if still running.
bg_run() {
	"$@" &
	BG_PID=$!
	_BG_PIDS+=("$BG_PID")
}

# ---------------------------------------------------------------------------
# Cluster

_as_pg() { runuser -u postgres -- "$@"; }

_port_free() { [ -z "$(ss -ltnH "( sport = :$1 )" 2>/dev/null)" ]; }

pg_up() {
	local scale=${1:-10} attempt port log data
	[ -z "$PG_DIR" ] || bdie "pg_up: cluster already up"
	PG_DIR="$BENCH_TMP/pg"
	mkdir -p "$PG_DIR/sock"
	chown -R postgres: "$PG_DIR"
	data="$PG_DIR/data"
	log="$PG_DIR/postgres.log"
	_as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; bdie "initdb failed"; }
	for ((attempt = 1; attempt <= 10; attempt++)); do
		port=$((55000 + RANDOM % 1000))
		_port_free "$port" || continue
		cat >"$PG_DIR/bench.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_DIR/sock'
max_connections = 50
shared_buffers = ${BENCH_SHARED_BUFFERS:-128MB}
synchronous_commit = off
autovacuum = off
checkpoint_timeout = 30min
max_wal_size = 4GB
logging_collector = off
EOF
		if [ "${BENCH_SSL:-0}" = 1 ]; then
			# TLS workloads: a self-signed certificate, clients do not verify it.
			[ -f "$data/server.key" ] || openssl req -new -x509 -days 7 -nodes -newkey rsa:2048 \
				-subj "/CN=localhost" -keyout "$data/server.key" -out "$data/server.crt" \
				>"$PG_DIR/openssl.log" 2>&1 || bdie "openssl could not make a certificate"
			chown postgres: "$data/server.key" "$data/server.crt"
			chmod 600 "$data/server.key"
			printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$PG_DIR/bench.conf"
		fi
		chown postgres: "$PG_DIR/bench.conf"
		grep -q "^include = '$PG_DIR/bench.conf'" "$data/postgresql.conf" ||
			echo "include = '$PG_DIR/bench.conf'" >>"$data/postgresql.conf"
		if _as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >"$PG_DIR/pg_ctl.log" 2>&1; then
			PG_PID=$(head -n 1 "$data/postmaster.pid")
			PG_PORT=$port
			PG_SOCK="$PG_DIR/sock"
			break
		fi
		grep -qi 'could not bind\|already in use' "$log" 2>/dev/null || {
			tail -n 20 "$log" >&2
			bdie "pg_ctl start failed"
		}
	done
	[ -n "$PG_PID" ] || bdie "no free port for the cluster"
	_as_pg "$PG_BIN/psql" -X -q -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres \
		-c "CREATE DATABASE bench" >/dev/null || bdie "CREATE DATABASE failed"
	blog "cluster up: pid $PG_PID, port $PG_PORT; pgbench -i -s $scale"
	timeout 600 "$PG_BIN/pgbench" -i -q -s "$scale" -h "$PG_SOCK" -p "$PG_PORT" -U postgres bench \
		>"$PG_DIR/pgbench-init.log" 2>&1 || { tail "$PG_DIR/pgbench-init.log" >&2; bdie "pgbench -i failed"; }
	pg_sql "VACUUM ANALYZE" >/dev/null
	pg_sql "CHECKPOINT" >/dev/null
}

pg_sql() {
	timeout 120 "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d bench -c "$1"
}

pg_down() {
	[ -n "$PG_DIR" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 15 stop >/dev/null 2>&1 ||
			{ [ -n "$PG_PID" ] && kill -KILL "$PG_PID" 2>/dev/null; }
	fi
	[ -z "$PG_PID" ] || _wait_gone "$PG_PID" 10
	rm -rf "$PG_DIR"
	PG_DIR=
	PG_PID=
}

# pgb HOSTKIND ARGS...: pgbench against db bench over "unix" or "tcp".
pgb() {
	local kind=$1 host
	shift
	case $kind in
	unix) host=$PG_SOCK ;;
	tcp) host=127.0.0.1 ;;
	*) bdie "pgb: unknown transport $kind" ;;
	esac
	"$PG_BIN/pgbench" -h "$host" -p "$PG_PORT" -U postgres "$@" bench
}

# ---------------------------------------------------------------------------
# Tracers

# tracer_start NAME READY_REGEX LOG TIMEOUT CMD...
tracer_start() {
	local name=$1 ready=$2 log=$3 tmo=$4 i
	shift 4
	[ -z "$TRACER_PID" ] || bdie "tracer_start: $TRACER_NAME still running"
	# Background jobs of a non-interactive shell ignore SIGINT: restore it,
	# or SIGINT would not stop the tracer.
	env --default-signal=INT,TERM,QUIT "$@" >"$log.out" 2>"$log" </dev/null &
	TRACER_PID=$!
	TRACER_NAME=$name
	for ((i = 0; i < tmo * 10; i++)); do
		grep -Eq "$ready" "$log" "$log.out" 2>/dev/null && return 0
		if ! _alive "$TRACER_PID"; then
			wait "$TRACER_PID" 2>/dev/null
			echo "---- $name stderr ----" >&2
			tail -n 20 "$log" >&2
			TRACER_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "$name: not ready after $tmo s" >&2
	tracer_stop 10
	return 1
}

# tracer_stop [SECS]: SIGINT and wait; returns the tracer's exit status.
tracer_stop() {
	local secs=${1:-30} rc=0
	[ -n "$TRACER_PID" ] || return 0
	kill -INT "$TRACER_PID" 2>/dev/null
	if ! _wait_gone "$TRACER_PID" "$secs"; then
		echo "$TRACER_NAME: still running $secs s after SIGINT: SIGKILL" >&2
		kill -KILL "$TRACER_PID" 2>/dev/null
		_wait_gone "$TRACER_PID" 5
	fi
	wait "$TRACER_PID" 2>/dev/null || rc=$?
	TRACER_PID=
	return "$rc"
}

# ---------------------------------------------------------------------------
# Process and BPF accounting

proc_cpu_ticks() {
	# Fields after the ")" of comm: utime is the 12th, stime the 13th.
	sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

proc_hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
proc_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# bpf_ids PID prog|map: ids of BPF programs (also through links) or maps the process holds.
bpf_ids() {
	local key=${2}_id
	grep -h "^$key:" /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un
}

# Every loaded program as JSON. bpftool's listing can come back empty while
# programs are attached and detached (dblat --sample does so every second):
# try again before giving up with an empty list.
bpf_progs_json() {
	local js i
	for i in 1 2 3 4 5; do
		js=$(bpftool prog show -j 2>/dev/null) && [ -n "$js" ] && { printf '%s\n' "$js"; return; }
		sleep 0.05
	done
	echo '[]'
}

# "run_time_ns run_cnt nprogs" over PID's programs whose name starts with PFX (dbl_).
bpf_prog_stats() {
	local ids
	ids=$(bpf_ids "$1" prog | paste -sd, -)
	[ -n "$ids" ] || { echo "0 0 0"; return; }
	bpf_progs_json | jq -r --arg ids "$ids" --arg pfx "${2:-dbl_}" '
		($ids | split(",") | map(tonumber)) as $want
		| [ .[] | select((.id as $i | $want | index($i)) and ((.name // "") | startswith($pfx))) ]
		| "\(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0) \(length)"'
}

# Per-program stats as JSON {name: [run_time_ns, run_cnt]} (PFX as above).
bpf_prog_stats_json() {
	local ids
	ids=$(bpf_ids "$1" prog | paste -sd, -)
	[ -n "$ids" ] || { echo "{}"; return; }
	bpf_progs_json | jq -c --arg ids "$ids" --arg pfx "${2:-dbl_}" '
		($ids | split(",") | map(tonumber)) as $want
		| [ .[] | select((.id as $i | $want | index($i)) and ((.name // "") | startswith($pfx))) ]
		| map({ key: .name, value: [ (.run_time_ns // 0), (.run_cnt // 0) ] }) | from_entries'
}

# Bytes of memlock over the maps used by PID's dbl_* programs and the maps it holds open.
bpf_map_bytes() {
	local pids mids
	pids=$(bpf_ids "$1" prog | paste -sd, -)
	mids=$(bpf_ids "$1" map | paste -sd, -)
	bpf_progs_json >"$BENCH_TMP/progs.json"
	bpftool map show -j 2>/dev/null >"$BENCH_TMP/maps.json" || echo '[]' >"$BENCH_TMP/maps.json"
	jq -rn --arg pids "$pids" --arg mids "$mids" \
		--slurpfile progs "$BENCH_TMP/progs.json" --slurpfile maps "$BENCH_TMP/maps.json" '
		($pids | split(",") | map(select(. != "") | tonumber)) as $p
		| ($mids | split(",") | map(select(. != "") | tonumber)) as $m
		| ([ $progs[0][] | select((.id as $i | $p | index($i)) and ((.name // "") | startswith("dbl_"))) | .map_ids[]? ] + $m | unique) as $want
		| [ $maps[0][] | select(.id as $i | $want | index($i)) | .bytes_memlock // 0 ] | add // 0'
}

# Tracing BPF programs loaded by anyone else (tracepoint, raw_tracepoint,
# tracing, kprobe/uprobe, perf_event), excluding those PID holds: another
# tracer on a syscall tracepoint taxes every syscall of an "untraced" run.
# Prints "COUNT NAMES" (the distinct program names, comma-separated, or "-").
foreign_tracing_progs() {
	local own= out
	[ -z "${1:-}" ] || own=$(bpf_ids "$1" prog | paste -sd, -)
	# An empty listing (links coming and going) counts as none: a run's record must not be lost for it.
	out=$(bpf_progs_json | jq -r --arg own "$own" '
		($own | split(",") | map(select(. != "") | tonumber)) as $o
		| [ .[] | select((.type | IN("tracepoint", "raw_tracepoint", "tracing", "kprobe", "perf_event"))
		                 and ((.id as $i | $o | index($i)) | not)) ]
		| "\(length) \(map(.name // "?") | unique | join(",") | if . == "" then "-" else . end)"' 2>/dev/null)
	echo "${out:-0 -}"
}

# A tracer's programs are freed a moment after it exits: wait (up to SECS)
# until no foreign tracing program is left, so the next baseline is clean.
wait_progs_gone() {
	local i n _names
	for ((i = 0; i < ${1:-5} * 10; i++)); do
		read -r n _names < <(foreign_tracing_progs)
		[ "$n" != 0 ] || return 0
		sleep 0.1
	done
}

bpf_stats_on() {
	[ -n "$_BPF_STATS_ORIG" ] || _BPF_STATS_ORIG=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
	sysctl -qw kernel.bpf_stats_enabled=1 >/dev/null 2>&1
}

bpf_stats_restore() {
	[ -n "$_BPF_STATS_ORIG" ] || return 0
	sysctl -qw kernel.bpf_stats_enabled="$_BPF_STATS_ORIG" >/dev/null 2>&1
	_BPF_STATS_ORIG=
}

# pgbench's summary lines -> "tps ntx lat_ms"
pgb_parse() {
	awk '
		/^tps = .*without initial connection time/ { tps = $3 }
		/^number of transactions actually processed:/ { split($0, a, ": "); split(a[2], b, "/"); ntx = b[1] }
		/^latency average = / { lat = $4 }
		END { printf "%s %s %s\n", (tps == "" ? "null" : tps), (ntx == "" ? "null" : ntx), (lat == "" ? "null" : lat) }
	' "$1"
}
