#!/usr/bin/env bash
# asyncpg over TLS (ssl required, no certificate check) on an ssl=on
# cluster: 20 connections on one event loop, each running statements of its
# own (an extended-protocol one returning i + 1 rows, a simple-protocol one),
# N times each. asyncio runs TLS over memory BIOs and one thread serves every
# connection, so the TLS probes' plaintext can only be bound to its
# connection by the thread's order of events: every statement must be
# counted exactly, with its own row count, on its own connection (the one
# backend that ran it), client side and server side, with no unmatched
# response and nothing left unbound. Meanwhile the same loop fetches pages
# from an HTTPS server (openssl s_server): another TLS connection on the
# same thread, whose bytes must reach no connection (nor dblat).
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
"$PY" -c 'import asyncpg' 2>/dev/null || skip "$PY has no asyncpg (install python3-asyncpg)"

CONNS=20
ITER=50

command -v openssl >/dev/null || skip "openssl missing"
pg_start --ssl

https_port=$(_pick_port) || fail "no free port for the HTTPS server"
bg_start 300 openssl s_server -accept "127.0.0.1:$https_port" -cert "$PG_SSL_CERT" -key "$PGDATA_DIR/server.key" \
	-www -quiet >"$TEST_TMP/https.log" 2>&1
wait_for 10 sh -c "ss -ltnH '( sport = :$https_port )' | grep -q ." || fail "openssl s_server did not listen"

out="$TEST_TMP/dblat.json"
cj="$TEST_TMP/client.json"
go="$TEST_TMP/go"
bg_start 240 "$PY" "$CLIENTS_DIR/asyncpg_tls.py" --host "$PGHOST_TCP" --port "$PGPORT" \
	--connections "$CONNS" --iterations "$ITER" --json-out "$cj" --wait-file "$go" --https-port "$https_port" \
	>"$TEST_TMP/client.log" 2>&1
client_pid=$BG_PID
dblat_start "$out" -p "$PG_PID" -p "$client_pid" --tls-probes
grep -q '^dblat: TLS plaintext from' "$DBLAT_LOG" || fail "dblat attached no TLS probes: $(cat "$DBLAT_LOG")"
touch "$go"
bg_wait "$client_pid"
crc=$?
dblat_stop
[ "$crc" -eq 0 ] || { cat "$TEST_TMP/client.log" >&2; fail "asyncpg_tls.py exited with status $crc"; }
[ -s "$cj" ] || fail "asyncpg_tls.py wrote no JSON"

check "every client connection encrypted (pg_stat_ssl)" \
	"$(jq '[.ssl[] | select(. == true)] | length' "$cj")" "$CONNS"
https=$(jget "$cj" .https_requests)
echo "HTTPS requests on the same event loop meanwhile: $https"
[ "$https" -gt 0 ] || fail "harness: no HTTPS request completed while the statements ran"
check "events dropped" "$(jget "$out" .events.dropped)" 0
check "unmatched responses" "$(jget "$out" .events.unmatched)" 0
check "plaintext calls left unbound" "$(jget "$out" .connections.encrypted.plaintext_unbound)" 0
# client and server end of each connection
check "encrypted connections" "$(jget "$out" .connections.encrypted.true)" $((2 * CONNS))
check "encrypted connections with statement text" "$(jget "$out" .connections.encrypted.with_text)" $((2 * CONNS))
check "encrypted connections timed only" "$(jget "$out" .connections.encrypted.timing_only)" 0

printf '\n%-66s %6s %6s %6s %6s %s\n' statement want client server rows backend
for ((i = 0; i < CONNS; i++)); do
	bp=$(jq -r --arg i "$i" '.backend_pids[$i]' "$cj")
	for q in "SELECT g AS c$i FROM generate_series(\$1::int, \$2::int) g" "SELECT current_database() AS q$i"; do
		want=$(jq --arg q "$q" '.calls[$q] // 0' "$cj")
		[ "$want" -eq "$ITER" ] || fail "harness: the client ran '$q' $want times, not $ITER"
		gc=$(stmt_calls "$out" "$q" client)
		gs=$(stmt_calls "$out" "$q" server)
		case $q in *generate_series*) wrows=$((want * (i + 1))) ;; *) wrows=$want ;; esac
		rc=$(stmt_sum "$out" "$q" client rows)
		rs=$(stmt_sum "$out" "$q" server rows)
		enc=$(jq --arg q "$q" '[.statements[] | select(.query == $q) | .encrypted.true] | add // 0' "$out")
		spids=$(stmt_pids "$out" "$q" server | sort -u | paste -sd, -)
		printf '%-66s %6s %6s %6s %6s %s\n' "$q" "$want" "$gc" "$gs" "$rc/$rs" "$spids"
		check "client calls  $q" "$gc" "$want"
		check "server calls  $q" "$gs" "$want"
		check "client rows   $q" "$rc" "$wrows"
		check "server rows   $q" "$rs" "$wrows"
		check "encrypted calls  $q" "$enc" $((2 * want))
		# Run by connection i's backend, and by no other.
		check "backend of    $q" "$spids" "$bp"
	done
done
check "client calls  $(jq -r '.calls | keys[] | select(test("pg_stat_ssl"))' "$cj")" \
	"$(stmt_calls "$out" "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" client)" "$CONNS"

[ "$_CHECK_FAILS" -eq 0 ] || dump_statements "$out" 80
finish
