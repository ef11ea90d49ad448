#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for the demo and the scenarios.
#
#   cluster.sh start  DIR   initdb (first time), start, create db "gateway" and load it
#   cluster.sh stop   DIR   fast shutdown
#   cluster.sh status DIR   exit 0 when running
#
# Layout of DIR: data/ (PGDATA), sock/ (unix socket), postgresql.log, env.
# DIR/env is sourced by the other scripts: PGPORT, PGHOST (the socket dir),
# PGDATA, PG_BINDIR, POSTMASTER_PID, DEMO_DB_URL ...
#
# The server runs as the "postgres" OS user (initdb refuses root), listens on
# 127.0.0.1 only, on $DEMO_PGPORT (55432), trust authentication: it is a
# throw-away cluster reachable from this machine only.
#
# Env: DEMO_PGPORT, PG_BINDIR (/usr/lib/postgresql/15/bin), DEMO_NKEYS (100000),
#      DEMO_NUSERS (10000), DEMO_PG_SSL (0/1: ssl=on with a self-signed cert).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PGUSER_OS=postgres

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { echo "usage: cluster.sh start|stop|status DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
CMD=$1
DIR=$2

as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root (the server itself runs as the '$PGUSER_OS' user)"
[ -x "$PG_BINDIR/pg_ctl" ] || die "no PostgreSQL at $PG_BINDIR: run 'bash scripts/deps.sh' (or set PG_BINDIR)"
getent passwd "$PGUSER_OS" >/dev/null || die "no '$PGUSER_OS' OS user: install postgresql-15"

DATA=$DIR/data
SOCK=$DIR/sock
LOG=$DIR/postgresql.log

running() {
	[ -f "$DATA/postmaster.pid" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

write_env() {
	local port pid
	port=$(sed -n 4p "$DATA/postmaster.pid")
	pid=$(sed -n 1p "$DATA/postmaster.pid")
	cat >"$DIR/env" <<EOF
# written by cluster.sh start; source it
PG_BINDIR=$PG_BINDIR
PGDATA=$DATA
PGHOST=$SOCK
PGSOCKDIR=$SOCK
PGPORT=$port
DEMO_PGPORT=$port
PGUSER=postgres
PGDATABASE=gateway
POSTMASTER_PID=$pid
PGLOG=$LOG
DEMO_DB_URL=postgresql+asyncpg://postgres@127.0.0.1:$port/gateway
DEMO_LIBPQ_CONNINFO='host=127.0.0.1 port=$port user=postgres dbname=gateway'
EOF
	chmod 644 "$DIR/env"
}

psql_db() {
	local db=$1; shift
	as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" "$@"
}

do_start() {
	PORT=${DEMO_PGPORT:-55432}
	mkdir -p "$DIR"
	chown "$PGUSER_OS": "$DIR"
	as_pg test -w "$DIR" -a -x "$DIR" ||
		die "$DIR is not writable by the '$PGUSER_OS' user (a parent directory may be private): pick a dir under /tmp"

	if running; then
		write_env
		echo "cluster.sh: already running (pid $(sed -n 1p "$DATA/postmaster.pid"), port $(sed -n 4p "$DATA/postmaster.pid"))"
		return 0
	fi

	if [ ! -f "$DATA/PG_VERSION" ]; then
		as_pg mkdir -p "$DATA" "$SOCK"
		as_pg "$PG_BINDIR/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C -N >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; die "initdb failed"; }
		cat >>"$DATA/postgresql.conf" <<EOF

# dblat demo cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.max = 5000
track_activity_query_size = 4096
log_line_prefix = '%m [%p] %q%a '
log_lock_waits = on
deadlock_timeout = 200ms
EOF
		if [ "${DEMO_PG_SSL:-0}" = 1 ]; then
			# Like a pg_createcluster cluster: TLS offered on TCP, libpq and
			# asyncpg negotiate it by default (sslmode=prefer).
			as_pg openssl req -new -x509 -days 30 -nodes -subj /CN=127.0.0.1 \
				-keyout "$DATA/server.key" -out "$DATA/server.crt" >/dev/null 2>&1 ||
				die "openssl could not make a certificate"
			chmod 600 "$DATA/server.key"
			printf "ssl = on\n" >>"$DATA/postgresql.conf"
		fi
	fi
	# The port may be changed between starts: the command line wins over the file.
	if ss -Htln "sport = :$PORT" 2>/dev/null | grep -q .; then
		die "port $PORT on 127.0.0.1 is taken: set DEMO_PGPORT"
	fi
	as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PORT" -w -t 60 start >/dev/null ||
		{ tail -20 "$LOG" >&2; die "the server did not start (log: $LOG)"; }
	write_env

	if ! psql_db postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'gateway'" | grep -q 1; then
		local t0=$SECONDS
		psql_db postgres -c "CREATE DATABASE gateway"
		psql_db gateway -f "$HERE/schema.sql"
		psql_db gateway -v nkeys="${DEMO_NKEYS:-100000}" -v nusers="${DEMO_NUSERS:-10000}" -f "$HERE/data.sql"
		echo "cluster.sh: loaded db gateway ($(psql_db gateway -Atc 'SELECT count(*) FROM api_keys') api keys) in $((SECONDS - t0)) s"
	fi
	echo "cluster.sh: running, pid $(sed -n 1p "$DATA/postmaster.pid"), 127.0.0.1:$PORT, socket dir $SOCK, env $DIR/env"
}

do_stop() {
	if running; then
		as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
		echo "cluster.sh: stopped"
	else
		echo "cluster.sh: not running"
	fi
}

do_status() {
	if running; then
		echo "cluster.sh: running, pid $(sed -n 1p "$DATA/postmaster.pid"), port $(sed -n 4p "$DATA/postmaster.pid")"
	else
		echo "cluster.sh: not running"
		return 3
	fi
}

case $CMD in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
