#!/usr/bin/env bash
# Load the demo gateway with wrk.
#
#   load.sh MODE DURATION_S [wrk script options, e.g. chat=0.2 keys=1000]
#
#   constant  wrk -t2 -c32 on GET /models for DURATION
#   mix       as constant, 20% POST /chat/completions (mix.lua)
#   burst     a short high-concurrency spike: -c100 for DURATION
#   ramp      steps of 8, 16, 32, 64, 128 connections, DURATION/5 each
#
# Env: LOAD_URL (http://127.0.0.1:$DEMO_HTTP_PORT, port 8088), LOAD_OUT (a
# file that collects each step's WRK_JSON line), LOAD_CONNS and LOAD_THREADS
# (override -c/-t of constant and mix), LOAD_TIMEOUT (wrk --timeout, 10s).
# wrk's own report goes to stdout; every run is bounded by its duration.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
URL=${LOAD_URL:-http://127.0.0.1:${DEMO_HTTP_PORT:-8088}}
TIMEOUT=${LOAD_TIMEOUT:-10s}

usage() { echo "usage: load.sh constant|mix|burst|ramp DURATION_S [name=value ...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
MODE=$1
DUR=$2
shift 2
[[ $DUR =~ ^[0-9]+$ ]] && [ "$DUR" -ge 1 ] && [ "$DUR" -le 3600 ] || usage
command -v wrk >/dev/null || { echo "load.sh: wrk is missing: run 'bash scripts/deps.sh'" >&2; exit 1; }

WRK_PID=
cleanup() {
	if [ -n "$WRK_PID" ] && kill -0 "$WRK_PID" 2>/dev/null; then
		kill "$WRK_PID" 2>/dev/null || true
		wait "$WRK_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_wrk LABEL THREADS CONNS SECONDS SCRIPT [options]
run_wrk() {
	local label=$1 t=$2 c=$3 d=$4 script=$5
	shift 5
	local tmp
	tmp=$(mktemp)
	echo "== load: $label: wrk -t$t -c$c -d${d}s $(basename "$script") $* against $URL"
	# wrk stops itself after -d; timeout is a backstop should it hang.
	timeout -k 5 $((d + 20)) wrk -t"$t" -c"$c" -d"${d}s" --timeout "$TIMEOUT" -s "$script" "$URL" -- "$@" >"$tmp" &
	WRK_PID=$!
	local rc=0
	wait "$WRK_PID" || rc=$?
	WRK_PID=
	cat "$tmp"
	if [ -n "${LOAD_OUT:-}" ]; then
		sed -n "s/^WRK_JSON /{\"label\":\"$label\",\"conns\":$c,\"wrk\":/p" "$tmp" | sed 's/$/}/' >>"$LOAD_OUT"
	fi
	rm -f "$tmp"
	return $rc
}

case $MODE in
constant)
	run_wrk constant "${LOAD_THREADS:-2}" "${LOAD_CONNS:-32}" "$DUR" "$HERE/wrk/models.lua" "$@"
	;;
mix)
	run_wrk mix "${LOAD_THREADS:-2}" "${LOAD_CONNS:-32}" "$DUR" "$HERE/wrk/mix.lua" "$@"
	;;
burst)
	run_wrk burst 2 100 "$DUR" "$HERE/wrk/models.lua" "$@"
	;;
ramp)
	step=$((DUR / 5))
	[ "$step" -ge 1 ] || step=1
	for c in 8 16 32 64 128; do
		run_wrk "ramp-c$c" 2 "$c" "$step" "$HERE/wrk/models.lua" "$@"
	done
	;;
*) usage ;;
esac
