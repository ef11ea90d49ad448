#!/usr/bin/env bash
# The demo (`sudo make demo`): a FastAPI + SQLAlchemy async gateway on a
# private PostgreSQL 15, loaded by wrk, traced from outside by dblat.
#
#   1. install missing Debian packages (scripts/deps.sh), build dblat (make)
#   2. start a throw-away cluster in a temp dir and the gateway (127.0.0.1:8088)
#   3. attach dblat to the gateway and the postmaster
#   4. load: DEMO_STEADY_S (40) s at 32 connections, 20% billable, then
#      DEMO_BURST_S (20) s at 100 connections
#   5. wait for dblat's report, stop everything this script started
#
# Reports land in out/: demo.txt (dblat's text report), demo.json, and every
# export that `./dblat --help` offers (--folded, --svg, --html, --prom);
# demo-app-stats.json and demo-poolwait.log are the app's own measurements
# (pool wait per request) to hold dblat's numbers against.
#
# Env: DEMO_PGPORT (55432), DEMO_HTTP_PORT (8088), DEMO_STEADY_S, DEMO_BURST_S,
# DEMO_POOL_SIZE (5), DBLAT_ARGS (extra dblat flags), DEMO_NO_BUILD=1 (use
# ./dblat as it is, no make).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DEMO=scripts/demo
OUT=out
PY=/usr/bin/python3
STEADY=${DEMO_STEADY_S:-40}
BURST=${DEMO_BURST_S:-20}
export DEMO_HTTP_PORT=${DEMO_HTTP_PORT:-8088}
DBLAT_SECS=$((STEADY + BURST + 10))

say() { echo "run-demo: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo make demo): dblat loads BPF programs"

# ---------------------------------------------------------------- 1. setup

deps_missing() {
	local c
	for c in wrk curl make cc runuser ss; do
		command -v "$c" >/dev/null || return 0
	done
	[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || return 0
	[ -f /usr/share/postgresql/15/extension/pg_stat_statements.control ] || return 0
	[ -x "$PY" ] && "$PY" -c 'import fastapi, uvicorn, sqlalchemy, asyncpg' 2>/dev/null || return 0
	return 1
}
if deps_missing; then
	say "installing missing packages (scripts/deps.sh)"
	bash scripts/deps.sh
fi

if [ -f Makefile ] && [ "${DEMO_NO_BUILD:-0}" != 1 ]; then
	if [ -x ./dblat ] && make -q dblat >/dev/null 2>&1; then
		:
	else
		say "building dblat (make)"
		make || die "the build failed: see make's messages above"
	fi
fi
[ -x ./dblat ] || die "./dblat does not exist yet: nothing to demo until 'make' builds it"

# Exports this dblat offers.
HELP=$(./dblat --help 2>&1 || true)
EXPORTS=()
REPORTS=("$OUT/demo.txt" "$OUT/demo.json")
for f in folded svg html prom; do
	if grep -q -- "--$f" <<<"$HELP"; then
		EXPORTS+=("--$f=$OUT/demo.$f")
		REPORTS+=("$OUT/demo.$f")
	fi
done

mkdir -p "$OUT"
rm -f "$OUT"/demo.* "$OUT"/demo-*

# ---------------------------------------------------- 2. cluster and app

CDIR=
APP_PID=
DBLAT_PID=
LOAD_PID=
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
		kill -TERM "$LOAD_PID" 2>/dev/null || true
		wait "$LOAD_PID" 2>/dev/null || true
	fi
	if [ -n "$DBLAT_PID" ] && kill -0 "$DBLAT_PID" 2>/dev/null; then
		# SIGINT: dblat detaches and writes what it has
		kill -INT "$DBLAT_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$DBLAT_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DBLAT_PID" 2>/dev/null || true
	fi
	[ -z "$DBLAT_PID" ] || wait "$DBLAT_PID" 2>/dev/null || true
	if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
		kill -TERM "$APP_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$APP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$APP_PID" 2>/dev/null || true
		wait "$APP_PID" 2>/dev/null || true
	fi
	if [ -n "$CDIR" ]; then
		bash "$DEMO/cluster.sh" stop "$CDIR" >/dev/null 2>&1 || true
		cp "$CDIR/postgresql.log" "$OUT/demo-postgres.log" 2>/dev/null || true
		rm -rf "$CDIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ss -Htln "sport = :$DEMO_HTTP_PORT" | grep -q .; then
	die "port $DEMO_HTTP_PORT is taken: set DEMO_HTTP_PORT"
fi

CDIR=$(mktemp -d /tmp/dblat-demo.XXXXXX)
say "starting PostgreSQL in $CDIR"
bash "$DEMO/cluster.sh" start "$CDIR" >&2
# shellcheck disable=SC1091
. "$CDIR/env"

say "starting the gateway on 127.0.0.1:$DEMO_HTTP_PORT"
env DEMO_DB_URL="$DEMO_DB_URL" DEMO_POOL_SIZE="${DEMO_POOL_SIZE:-5}" DEMO_POOL_WAIT_LOG="$OUT/demo-poolwait.log" \
	"$PY" "$DEMO/app.py" >"$OUT/demo-app.log" 2>&1 &
APP_PID=$!
for ((i = 0; i < 100; i++)); do
	curl -sf -o /dev/null "http://127.0.0.1:$DEMO_HTTP_PORT/healthz" && break
	kill -0 "$APP_PID" 2>/dev/null || { tail -20 "$OUT/demo-app.log" >&2; die "the gateway exited"; }
	sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$DEMO_HTTP_PORT/models" -H "Authorization: Bearer sk-demo-1" ||
	die "the gateway does not answer GET /models: see $OUT/demo-app.log"

# ------------------------------------------------------------- 3. dblat

say "./dblat -p $APP_PID (gateway) -p $POSTMASTER_PID (postmaster) --json=$OUT/demo.json -d $DBLAT_SECS ${EXPORTS[*]}"
# shellcheck disable=SC2086
./dblat -p "$APP_PID" -p "$POSTMASTER_PID" --json="$OUT/demo.json" -d "$DBLAT_SECS" "${EXPORTS[@]}" ${DBLAT_ARGS:-} \
	>"$OUT/demo.txt" 2>"$OUT/demo.stderr" &
DBLAT_PID=$!
for ((i = 0; i < 600; i++)); do
	grep -q '^dblat: attached' "$OUT/demo.stderr" 2>/dev/null && break
	if ! kill -0 "$DBLAT_PID" 2>/dev/null; then
		cat "$OUT/demo.stderr" >&2
		die "dblat exited before attaching"
	fi
	sleep 0.1
done
grep -q '^dblat: attached' "$OUT/demo.stderr" || die "dblat did not attach within 60 s (see $OUT/demo.stderr)"
say "$(grep -m1 '^dblat: attached' "$OUT/demo.stderr")"

# -------------------------------------------------------------- 4. load

run_load() {
	bash "$DEMO/load.sh" "$@" >>"$OUT/demo-load.txt" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID"
	LOAD_PID=
}
say "load: ${STEADY}s at 32 connections (20% POST /chat/completions)"
run_load mix "$STEADY"
say "load: ${BURST}s burst at 100 connections"
run_load burst "$BURST"
grep '^WRK_JSON' "$OUT/demo-load.txt" | sed 's/^WRK_JSON //' >"$OUT/demo-load.jsonl" || true
curl -sf -o "$OUT/demo-app-stats.json" "http://127.0.0.1:$DEMO_HTTP_PORT/debug/stats" || true

# ------------------------------------------------------------ 5. report

say "waiting for dblat to finish (-d $DBLAT_SECS)"
for ((i = 0; i < (DBLAT_SECS + 30) * 10; i++)); do
	kill -0 "$DBLAT_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$DBLAT_PID" 2>/dev/null; then
	say "dblat still running 30 s past its time: sending SIGINT"
	kill -INT "$DBLAT_PID" 2>/dev/null || true
fi
rc=0
wait "$DBLAT_PID" || rc=$?
DBLAT_PID=
[ "$rc" -eq 0 ] || say "dblat exited with status $rc (stderr: $OUT/demo.stderr)"

echo
echo "==== dblat report ($OUT/demo.txt) ===="
cat "$OUT/demo.txt"
echo
echo "==== files ===="
for f in "${REPORTS[@]}" "$OUT/demo.stderr" "$OUT/demo-load.txt" "$OUT/demo-app-stats.json" "$OUT/demo-poolwait.log" "$OUT/demo-app.log"; do
	if [ -s "$f" ]; then
		echo "  $f"
	else
		echo "  $f (missing or empty)"
	fi
done
if [ -s "$OUT/demo-app-stats.json" ]; then
	"$PY" - "$OUT/demo-app-stats.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = d.get("pool_wait_us", {})
print("app's own numbers: %d requests %s; pool wait mean %.1f ms, p99 %.1f ms" % (
    d.get("requests", 0), d.get("by_status"), w.get("mean", 0) / 1000.0, (w.get("p99") or 0) / 1000.0))
EOF
fi
exit "$rc"
