# shellcheck shell=bash
# Helpers sourced by dblat's end-to-end tests (tests/e2e/*.sh).
#
#   pg_start [--ssl] [--md5 USER:PASS]... [--scram USER:PASS]...
#            [--conf 'name = value']... [--hba 'pg_hba line']...
#       Private PostgreSQL 15 cluster on a free TCP port (127.0.0.1 and ::1)
#       and a Unix socket in its own directory. Exports PGPORT, PGHOST_TCP,
#       PGSOCKDIR, PGHOST (= PGSOCKDIR), PGDATA_DIR, PGUSER, PGDATABASE,
#       PG_PID (the postmaster), PG_DIR (cluster dir), PG_LOG, PG_SSL_CERT.
#   pg_stop                 stop the cluster, remove its directory
#   pg_sql SQL              run SQL as postgres over the socket, print -At output
#   pgb_init                pgbench -i -s 1, quietly
#   dblat_start OUTJSON [args...]
#       ./dblat --json OUTJSON args in the background; waits for
#       "dblat: attached" (DBLAT_ATTACH_TIMEOUT, 30 s). Sets DBLAT_PID,
#       DBLAT_LOG (stderr), DBLAT_OUT (stdout), DBLAT_JSON. Tests compare
#       dblat's counts with their clients' own, so it traces every call
#       (--full) unless args say how (--budget, --sample, --full) or
#       DBLAT_AS_IS=1 asks for what a user gets with no option.
#   dblat_stop [SIG]        SIGINT (or SIG), wait, require exit 0 and valid JSON
#   dblat_wait [SECS]       wait for dblat to end by itself (-d), same checks
#   skip MSG / fail MSG / pass
#   jget FILE JQEXPR        jq -r JQEXPR FILE
#   stmt_sum FILE QUERY SIDE FIELD   sum FIELD over rows with that query and side
#   stmt_calls FILE QUERY SIDE       sum of calls
#   stmt_mean_us FILE QUERY SIDE     call-weighted mean latency (us)
#   stmt_sqlstate FILE QUERY SIDE CODE   count of CODE in sqlstates
#   stmt_sum_re / stmt_sqlstate_re       the same for queries matching a regex
#   dump_statements FILE    compact listing of a report (diagnostics)
#   check DESC GOT WANT     record a mismatch (see finish)
#   finish                  fail if any check failed, else pass
#   at_exit CMD             run CMD when the test exits (before cluster stop)
#   bg_start SECS CMD...    CMD in the background, BG_PID its pid, killed after SECS
#   bg_wait PID             wait for it, return its status
#   wait_for SECS CMD...    poll CMD every 0.1 s for up to SECS
#
# Every wait is bounded. A trap stops dblat and the cluster on any exit.
# Environment: DBLAT (binary, default <repo>/dblat), PG_BIN (PostgreSQL
# server binaries), KEEP_TMP=1 or KEEP_TMP_ON_FAIL=1 (keep the test's
# temporary directory: dblat's JSON, logs, client output).

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$TESTS_DIR/.." && pwd)
CLIENTS_DIR="$TESTS_DIR/clients"
DBLAT=${DBLAT:-$REPO_ROOT/dblat}
case "$DBLAT" in /*) ;; *) DBLAT="$PWD/$DBLAT" ;; esac
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3
TEST_NAME=$(basename "${0%.sh}")
export DBLAT PG_BIN

# Inherited libpq settings would point clients elsewhere.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSWORD PGPASSFILE \
	PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGCONNECT_TIMEOUT 2>/dev/null || true
export PGCONNECT_TIMEOUT=10

_tmp_base() {
	local b=${TMPDIR:-/tmp}
	[ -d "$b" ] && [ -w "$b" ] || b=/tmp
	printf '%s\n' "$b"
}
TEST_TMP=$(mktemp -d "$(_tmp_base)/dblat-$TEST_NAME.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
chmod 755 "$TEST_TMP"

DBLAT_PID=
DBLAT_LOG=
DBLAT_OUT=
DBLAT_JSON=
DBLAT_RC=
_DBLAT_N=0
PG_DIR=
PG_PID=
_CHECK_FAILS=0
_CHECK_FAILED=
_AT_EXIT=()
_BG_PIDS=()

log() { printf '%s\n' "$*"; }

_show_dblat_log() {
	if [ -n "$DBLAT_LOG" ] && [ -s "$DBLAT_LOG" ]; then
		echo "---- dblat stderr ($DBLAT_LOG, last 40 lines) ----" >&2
		tail -n 40 "$DBLAT_LOG" >&2
		echo "----" >&2
	fi
}

skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	_show_dblat_log
	exit 1
}
pass() { echo "PASS"; exit 0; }

at_exit() { _AT_EXIT+=("$*"); }

# True while pid runs (a zombie does not count).
_alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Wait up to $2 seconds for pid $1 to end; return 0 if it did.
_wait_gone() {
	local pid=$1 tenths=$(($2 * 10)) i
	for ((i = 0; i < tenths; i++)); do
		_alive "$pid" || return 0
		sleep 0.1
	done
	! _alive "$pid"
}

_cleanup() {
	local rc=$? i
	# Ignore further signals while cleaning up: a timeout signals the whole
	# process group right after the shell itself. Cleanup is bounded.
	trap - EXIT
	trap '' INT TERM HUP
	for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${_AT_EXIT[$i]}" >/dev/null 2>&1 || true
	done
	# Background commands not waited for yet are still our children.
	for i in "${_BG_PIDS[@]}"; do
		kill -TERM "$i" 2>/dev/null
	done
	for i in "${_BG_PIDS[@]}"; do
		_wait_gone "$i" 5 || kill -KILL "$i" 2>/dev/null
	done
	if [ -n "$DBLAT_PID" ] && _alive "$DBLAT_PID"; then
		kill -INT "$DBLAT_PID" 2>/dev/null
		_wait_gone "$DBLAT_PID" 15 || { kill -KILL "$DBLAT_PID" 2>/dev/null; _wait_gone "$DBLAT_PID" 5; }
		wait "$DBLAT_PID" 2>/dev/null
	fi
	pg_stop >/dev/null 2>&1
	if [ -n "${KEEP_TMP:-}" ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${KEEP_TMP_ON_FAIL:-}" ]; }; then
		echo "kept $TEST_TMP" >&2
	else
		rm -rf "$TEST_TMP"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (dblat loads BPF programs)"
}
need_btf() {
	[ -r /sys/kernel/btf/vmlinux ] || skip "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
}
need_dblat() {
	[ -x "$DBLAT" ] || fail "dblat binary not found at $DBLAT: build it first with 'make' (or set DBLAT=path)"
}
need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "missing command: $c (run scripts/deps.sh)"
	done
}
# The usual preamble of an e2e test.
e2e_init() {
	need_root
	need_btf
	need_cmd jq ss psql pgbench
	[ -x "$PG_BIN/initdb" ] || skip "PostgreSQL 15 server binaries not in $PG_BIN (run scripts/deps.sh)"
	id postgres >/dev/null 2>&1 || skip "no 'postgres' OS user (install postgresql-15)"
	need_dblat
}

# ---------------------------------------------------------------------------
# PostgreSQL cluster

_as_pg() { runuser -u postgres -- "$@"; }

_port_free() {
	[ -z "$(ss -tanH "( sport = :$1 )" 2>/dev/null)" ]
}

# Below the kernel's ephemeral range: a port in it can be taken by any
# client connection (wrk's, say) between the pick and the bind.
_pick_port() {
	local i p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	[ "$low" -gt 11024 ] 2>/dev/null || low=32768
	for ((i = 0; i < 200; i++)); do
		p=$((low - 10000 + (RANDOM % 9000)))
		if _port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Base directory the postgres user can traverse and write.
_pg_base() {
	local b
	b=$(_tmp_base)
	if _as_pg test -w "$b" 2>/dev/null && _as_pg test -x "$b" 2>/dev/null; then
		echo "$b"
	else
		echo /tmp
	fi
}

# The addresses the cluster must listen on. ::1 only when loopback has it.
_pg_listen() {
	if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; then
		echo "127.0.0.1,::1"
	else
		echo "127.0.0.1"
	fi
}

# Does the postmaster own a listener on every wanted address?
_pg_owns_port() {
	local port=$1 pid=$2 addr want n
	for addr in ${3//,/ }; do
		case "$addr" in *:*) want="[$addr]:$port" ;; *) want="$addr:$port" ;; esac
		n=$(ss -ltnpH "( sport = :$port )" 2>/dev/null | awk -v w="$want" -v p="pid=$pid," '$4 == w && index($0, p) { n++ } END { print n + 0 }')
		[ "$n" -ge 1 ] || return 1
	done
}

pg_start() {
	local ssl=0 confs=() hbas=() md5s=() scrams=() u
	while [ $# -gt 0 ]; do
		case "$1" in
		--ssl) ssl=1 ;;
		--md5) md5s+=("$2"); shift ;;
		--scram) scrams+=("$2"); shift ;;
		--conf) confs+=("$2"); shift ;;
		--hba) hbas+=("$2"); shift ;;
		*) fail "pg_start: unknown option $1" ;;
		esac
		shift
	done
	[ -z "$PG_DIR" ] || fail "pg_start: a cluster is already running in $PG_DIR"

	PG_DIR=$(mktemp -d "$(_pg_base)/dblat-pg.XXXXXX") || fail "pg_start: mktemp"
	chmod 755 "$PG_DIR"
	mkdir "$PG_DIR/sock"
	chown -R postgres: "$PG_DIR"
	local data="$PG_DIR/data" log="$PG_DIR/postgres.log"

	if ! _as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$PG_DIR/initdb.log" 2>&1; then
		cat "$PG_DIR/initdb.log" >&2
		fail "pg_start: initdb failed"
	fi

	if [ "$ssl" = 1 ]; then
		command -v openssl >/dev/null || fail "pg_start --ssl: openssl missing"
		if ! openssl req -new -x509 -days 7 -nodes -newkey rsa:2048 -subj "/CN=localhost" \
			-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
			-keyout "$data/server.key" -out "$data/server.crt" >"$PG_DIR/openssl.log" 2>&1; then
			cat "$PG_DIR/openssl.log" >&2
			fail "pg_start: openssl could not make a certificate"
		fi
		chown postgres: "$data/server.key" "$data/server.crt"
		chmod 600 "$data/server.key"
		PG_SSL_CERT="$data/server.crt"
	else
		PG_SSL_CERT=
	fi

	{
		echo "# pg_hba.conf written by tests/lib/common.sh"
		for u in "${hbas[@]}"; do echo "$u"; done
		for u in "${md5s[@]}"; do
			printf 'local all %s md5\nhost all %s 127.0.0.1/32 md5\nhost all %s ::1/128 md5\n' "${u%%:*}" "${u%%:*}" "${u%%:*}"
		done
		for u in "${scrams[@]}"; do
			printf 'local all %s scram-sha-256\nhost all %s 127.0.0.1/32 scram-sha-256\nhost all %s ::1/128 scram-sha-256\n' "${u%%:*}" "${u%%:*}" "${u%%:*}"
		done
		echo "local all all trust"
		echo "host all all 127.0.0.1/32 trust"
		echo "host all all ::1/128 trust"
	} >"$data/pg_hba.conf"
	chown postgres: "$data/pg_hba.conf"

	local listen attempt port=
	listen=$(_pg_listen)
	for ((attempt = 1; attempt <= 5; attempt++)); do
		port=$(_pick_port) || fail "pg_start: no free TCP port"
		# conf.d-less: rewrite the tail of postgresql.conf on every attempt.
		{
			echo "# --- tests/lib/common.sh ---"
			echo "listen_addresses = '$listen'"
			echo "port = $port"
			echo "unix_socket_directories = '$PG_DIR/sock'"
			echo "shared_preload_libraries = 'pg_stat_statements'"
			echo "pg_stat_statements.track = all"
			echo "max_connections = 200"
			echo "fsync = on"
			echo "logging_collector = off"
			echo "log_line_prefix = '%m [%p] %q%u@%d '"
			if [ "$ssl" = 1 ]; then
				echo "ssl = on"
				echo "ssl_cert_file = 'server.crt'"
				echo "ssl_key_file = 'server.key'"
			fi
			for u in "${confs[@]}"; do echo "$u"; done
		} >"$PG_DIR/extra.conf"
		chown postgres: "$PG_DIR/extra.conf"
		grep -q "^include = '$PG_DIR/extra.conf'" "$data/postgresql.conf" ||
			echo "include = '$PG_DIR/extra.conf'" >>"$data/postgresql.conf"

		if ! _as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >"$PG_DIR/pg_ctl.log" 2>&1; then
			if grep -qi 'could not bind\|could not create any TCP/IP sockets\|already in use' "$log" 2>/dev/null; then
				_as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1
				continue
			fi
			cat "$PG_DIR/pg_ctl.log" >&2
			tail -n 30 "$log" >&2
			fail "pg_start: pg_ctl start failed"
		fi
		PG_PID=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
		[ -n "$PG_PID" ] || fail "pg_start: no pid in postmaster.pid"
		# Another cluster may have taken the port (or one of its addresses)
		# between the check and the bind: then start over on another one.
		if _pg_owns_port "$port" "$PG_PID" "$listen"; then
			break
		fi
		_as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1
		PG_PID=
	done
	[ -n "$PG_PID" ] || fail "pg_start: could not get a TCP port after 5 attempts (see $log)"

	export PGPORT=$port PGHOST_TCP=127.0.0.1 PGSOCKDIR="$PG_DIR/sock" PGHOST="$PG_DIR/sock"
	export PGDATA_DIR="$data" PGUSER=postgres PGDATABASE=postgres PG_PID PG_DIR PG_SSL_CERT
	export PG_LOG="$log"

	local i ok=0
	for ((i = 0; i < 100; i++)); do
		if "$PG_BIN/pg_isready" -q -h "$PGSOCKDIR" -p "$PGPORT" -t 2 &&
			"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t 2; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ "$ok" = 1 ] || { tail -n 30 "$log" >&2; fail "pg_start: server not ready after 10 s"; }

	pg_sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null ||
		fail "pg_start: CREATE EXTENSION pg_stat_statements failed"
	for u in "${md5s[@]}"; do
		pg_sql "SET password_encryption = 'md5'; CREATE ROLE \"${u%%:*}\" LOGIN SUPERUSER PASSWORD '${u#*:}'" >/dev/null ||
			fail "pg_start: could not create md5 role ${u%%:*}"
	done
	for u in "${scrams[@]}"; do
		pg_sql "SET password_encryption = 'scram-sha-256'; CREATE ROLE \"${u%%:*}\" LOGIN SUPERUSER PASSWORD '${u#*:}'" >/dev/null ||
			fail "pg_start: could not create scram role ${u%%:*}"
	done
	log "cluster: port $PGPORT, socket dir $PGSOCKDIR, postmaster pid $PG_PID$([ "$ssl" = 1 ] && echo ', ssl on')"
}

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		if ! _as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
			_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 15 stop >/dev/null 2>&1 ||
				{ [ -n "$PG_PID" ] && kill -KILL "$PG_PID" 2>/dev/null; }
		fi
	fi
	[ -z "$PG_PID" ] || _wait_gone "$PG_PID" 10
	rm -rf "$PG_DIR"
	PG_DIR=
	PG_PID=
	unset PGPORT PGHOST PGSOCKDIR PGDATA_DIR PG_LOG
}

# pg_sql SQL [psql args...]: run SQL over the Unix socket, print unaligned rows.
pg_sql() {
	local sql=$1
	shift
	timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres \
		-c "$sql" "$@"
}

# own_comm VAR PROGRAM PREFIX: PROGRAM under a name of this test's own
# ($TEST_TMP/bin/NAME, a symlink: comm is the name a program was executed by),
# so that -c selects this test's process and no other on the machine. VAR
# gets NAME: PREFIX-<pid>, cut to the 15 characters of a comm.
own_comm() {
	local name="$3-$$"
	name=${name:0:15}
	mkdir -p "$TEST_TMP/bin"
	ln -sf "$2" "$TEST_TMP/bin/$name"
	printf -v "$1" %s "$name"
}

pgb_init() {
	if ! timeout 120 pgbench -i -s 1 -q -h "$PGSOCKDIR" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/pgbench-init.log" 2>&1; then
		cat "$TEST_TMP/pgbench-init.log" >&2
		fail "pgbench -i failed"
	fi
}

# ---------------------------------------------------------------------------
# dblat

dblat_start() {
	local json=$1 i
	shift
	need_dblat
	[ -z "$DBLAT_PID" ] || fail "dblat_start: dblat already running (pid $DBLAT_PID)"
	_DBLAT_N=$((_DBLAT_N + 1))
	DBLAT_LOG="$TEST_TMP/dblat.$_DBLAT_N.err"
	DBLAT_OUT="$TEST_TMP/dblat.$_DBLAT_N.out"
	DBLAT_JSON=$json
	rm -f "$json"
	case " $* " in
	*" --budget "* | *" --sample "* | *" --full "*) ;;
	*) [ "${DBLAT_AS_IS:-0}" = 1 ] || set -- --full "$@" ;;
	esac
	echo "+ dblat --json $json $*" >"$TEST_TMP/dblat.$_DBLAT_N.cmd"
	# Background jobs of a non-interactive shell ignore SIGINT: undo that,
	# so dblat sees the same signals as it would under a terminal.
	env --default-signal=INT,TERM,QUIT "$DBLAT" --json "$json" "$@" \
		>"$DBLAT_OUT" 2>"$DBLAT_LOG" </dev/null &
	DBLAT_PID=$!
	for ((i = 0; i < ${DBLAT_ATTACH_TIMEOUT:-30} * 10; i++)); do
		if grep -q '^dblat: attached' "$DBLAT_LOG" 2>/dev/null; then
			return 0
		fi
		if ! _alive "$DBLAT_PID"; then
			wait "$DBLAT_PID"
			DBLAT_RC=$?
			DBLAT_PID=
			fail "dblat exited (status $DBLAT_RC) before printing 'dblat: attached' (args: $*)"
		fi
		sleep 0.1
	done
	fail "dblat did not print 'dblat: attached' within ${DBLAT_ATTACH_TIMEOUT:-30} s (args: $*)"
}

# dblat_wait [SECS]: wait for dblat to exit (bounded), check status 0 and the JSON.
dblat_wait() {
	local secs=${1:-30}
	[ -n "$DBLAT_PID" ] || fail "dblat_wait: dblat not running"
	if ! _wait_gone "$DBLAT_PID" "$secs"; then
		kill -KILL "$DBLAT_PID" 2>/dev/null
		_wait_gone "$DBLAT_PID" 5
		wait "$DBLAT_PID" 2>/dev/null
		DBLAT_PID=
		fail "dblat did not exit within $secs s (killed)"
	fi
	wait "$DBLAT_PID"
	DBLAT_RC=$?
	DBLAT_PID=
	[ "$DBLAT_RC" -eq 0 ] || fail "dblat exited with status $DBLAT_RC (expected 0)"
	[ -s "$DBLAT_JSON" ] || fail "dblat wrote no JSON to $DBLAT_JSON"
	jq -e '.schema == "dblat/1" and (.statements | type == "array")' "$DBLAT_JSON" >/dev/null 2>&1 ||
		fail "$DBLAT_JSON is not dblat/1 JSON: $(head -c 300 "$DBLAT_JSON")"
	return 0
}

# dblat_stop [SIG]: signal dblat (default INT) and dblat_wait.
dblat_stop() {
	local sig=${1:-INT}
	[ -n "$DBLAT_PID" ] || fail "dblat_stop: dblat not running"
	kill -"$sig" "$DBLAT_PID" 2>/dev/null
	dblat_wait 30
}

# ---------------------------------------------------------------------------
# JSON

jget() {
	local out
	if ! out=$(jq -r "$2" "$1" 2>&1); then
		echo "jget: jq '$2' on $1 failed: $out" >&2
		echo "ERROR"
		return 1
	fi
	printf '%s\n' "$out"
}

# Sum of FIELD (a jq path below a statement, e.g. calls, errors,
# latency_us.total) over the rows with that query and side.
stmt_sum() {
	jq -r --arg q "$2" --arg s "$3" \
		"[.statements[] | select(.query == \$q and .side == \$s) | (.$4 // 0)] | add // 0" "$1" 2>/dev/null ||
		echo "ERROR"
}
stmt_calls() { stmt_sum "$1" "$2" "$3" calls; }

# stmt_sum_re FILE REGEX SIDE FIELD: as stmt_sum, for the queries matching
# the (jq/Oniguruma) REGEX.
stmt_sum_re() {
	jq -r --arg re "$2" --arg s "$3" \
		"[.statements[] | select((.query | test(\$re)) and .side == \$s) | (.$4 // 0)] | add // 0" "$1" 2>/dev/null ||
		echo "ERROR"
}
stmt_sqlstate_re() {
	jq -r --arg re "$2" --arg s "$3" --arg c "$4" \
		'[.statements[] | select((.query | test($re)) and .side == $s) | (.sqlstates[$c] // 0)] | add // 0' "$1" 2>/dev/null ||
		echo "ERROR"
}

# Call-weighted mean latency in microseconds, "none" if no calls.
stmt_mean_us() {
	jq -r --arg q "$2" --arg s "$3" '
		[.statements[] | select(.query == $q and .side == $s)] as $r
		| ([$r[].calls] | add // 0) as $n
		| if $n == 0 then "none"
		  else (([$r[] | (.latency_us.total // (.latency_us.mean * .calls))] | add) / $n)
		  end' "$1" 2>/dev/null || echo "ERROR"
}

stmt_sqlstate() {
	jq -r --arg q "$2" --arg s "$3" --arg c "$4" \
		'[.statements[] | select(.query == $q and .side == $s) | (.sqlstates[$c] // 0)] | add // 0' "$1" 2>/dev/null ||
		echo "ERROR"
}

# Union of the pids of the rows with that query and side, one a line.
stmt_pids() {
	jq -r --arg q "$2" --arg s "$3" \
		'[.statements[] | select(.query == $q and .side == $s) | .pids[]?] | unique | .[]' "$1" 2>/dev/null
}

# Compact listing of a report, for diagnostics.
dump_statements() {
	echo "---- statements in $1 ----"
	jq -r '.statements[] | [.side, .comm, .calls, .errors, (.latency_us.mean // "-"), .query] | @tsv' "$1" 2>/dev/null |
		sort | head -n "${2:-60}"
	echo "events: $(jq -c '.events' "$1" 2>/dev/null)"
	echo "----"
}

# check DESC GOT WANT: compare as strings, record failures, keep going.
check() {
	if [ "$2" = "$3" ]; then
		printf '  ok      %s: %s\n' "$1" "$2"
	else
		printf '  NOT OK  %s: got %s, want %s\n' "$1" "$2" "$3"
		_CHECK_FAILS=$((_CHECK_FAILS + 1))
		_CHECK_FAILED="${_CHECK_FAILED:+$_CHECK_FAILED; }$1"
	fi
}
# check_true DESC CONDITION-RESULT(0/1) [DETAIL]
check_true() {
	if [ "$2" = 0 ]; then
		printf '  ok      %s %s\n' "$1" "${3:-}"
	else
		printf '  NOT OK  %s %s\n' "$1" "${3:-}"
		_CHECK_FAILS=$((_CHECK_FAILS + 1))
		_CHECK_FAILED="${_CHECK_FAILED:+$_CHECK_FAILED; }$1${3:+ $3}"
	fi
}
finish() {
	# The failed checks' names go on the one line the runner shows first.
	[ "$_CHECK_FAILS" -eq 0 ] || fail "$_CHECK_FAILS check(s) failed: $_CHECK_FAILED"
	pass
}

# bg_start SECS CMD...: run CMD in the background; BG_PID is CMD's own pid
# (not a wrapper's, so it can be matched against dblat's pids). A watchdog
# sends it SIGTERM, then SIGKILL, if it runs longer than SECS.
bg_start() {
	local secs=$1
	shift
	"$@" &
	BG_PID=$!
	_BG_PIDS+=("$BG_PID")
	(
		timeout "$secs" tail --pid="$BG_PID" -s 0.2 -f /dev/null >/dev/null 2>&1
		if [ $? -eq 124 ]; then
			echo "bg_start: '$*' ran longer than $secs s: killed" >&2
			kill -TERM "$BG_PID" 2>/dev/null
			sleep 5
			kill -KILL "$BG_PID" 2>/dev/null
		fi
	) &
}
# bg_wait PID: its exit status.
bg_wait() {
	local rc i
	wait "$1"
	rc=$?
	for i in "${!_BG_PIDS[@]}"; do
		[ "${_BG_PIDS[$i]}" != "$1" ] || unset '_BG_PIDS[i]'
	done
	return "$rc"
}

# Bounded wait for a condition: wait_for SECS CMD...
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
