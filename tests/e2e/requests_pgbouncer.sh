#!/usr/bin/env bash
# The queue wait inside pgbouncer (transaction mode, a pool of 2, 20
# clients): the time between a client's query arriving at pgbouncer and
# pgbouncer forwarding it on a server connection. Ground truth: pgbouncer's
# own SHOW STATS total_wait_time, within 5%.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
need_cmd pgbouncer

pg_start
pgb_init
bport=$(_pick_port) || fail "no free port"
dir="$TEST_TMP/pgbouncer"
mkdir -p "$dir"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PGPORT dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
admin_users = postgres
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo '"postgres" ""' >"$dir/users.txt"
chown -R postgres "$dir"
runuser -u postgres -- pgbouncer -d "$dir/pgbouncer.ini" || fail "pgbouncer did not start"
for ((i = 0; i < 50; i++)); do [ -s "$dir/pgbouncer.pid" ] && break; sleep 0.1; done
bpid=$(cat "$dir/pgbouncer.pid")
at_exit kill "$bpid"

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$bpid"
timeout 120 pgbench -n -S -t 200 -c 20 -j 2 -M simple -h 127.0.0.1 -p "$bport" -U postgres postgres \
	>"$TEST_TMP/pgb.out" 2>&1 || { cat "$TEST_TMP/pgb.out"; fail "pgbench through pgbouncer failed"; }
dblat_stop
hdr=$(psql -X -A -h 127.0.0.1 -p "$bport" -U postgres pgbouncer -c "SHOW STATS" 2>/dev/null | head -1)
col=$(echo "$hdr" | tr '|' '\n' | grep -n '^total_wait_time$' | cut -d: -f1)
row=$(psql -X -At -h 127.0.0.1 -p "$bport" -U postgres pgbouncer -c "SHOW STATS" 2>/dev/null | awk -F'|' '$1 == "postgres"')
truth=$(echo "$row" | cut -d'|' -f"$col")
got=$(jq -r --argjson p "$bpid" '.pool[] | select(.pid == $p) | .proxy_wait_us.total' "$out")
echo "queue wait in pgbouncer: dblat total ${got:-none} us, pgbouncer total_wait_time ${truth:-none} us"
awk -v a="${truth:-0}" -v d="${got:-0}" 'BEGIN { exit !(a > 1000 && d / a > 0.95 && d / a < 1.05) }'
check_true "pgbouncer's queue wait within 5% of its own total_wait_time" $?
check "pgbouncer's client-side statements" \
	"$(stmt_calls "$out" 'SELECT abalance FROM pgbench_accounts WHERE aid = $1' server)" 4000
finish
