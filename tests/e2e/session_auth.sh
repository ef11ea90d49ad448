#!/usr/bin/env bash
# Authentication methods: one role per method (trust, md5, scram-sha-256,
# from pg_hba.conf), N psql connections each over TCP, each method's psql
# running under a name of its own (a symlink) so that its sessions can be
# told apart in dblat's per-process entries.
#
# Ground truth: the postgres log with log_connections = on, which shows a
# "connection authorized" line per session and, for password methods, a
# "connection authenticated: identity=... method=<method>" line.
#
# dblat must identify the method of every session (auth counts, client and
# server side), count the client's password messages ('p': 2 per SCRAM
# exchange, 1 per md5, 0 for trust) and show SCRAM's auth phase (the
# client's PBKDF2 and the extra round trip) longer than md5's.
#
# Then N encrypted sessions (sslmode=require, another psql name): after the
# server's 'S' nothing of their set-up can be seen, so dblat must not count
# them as failed (nor as an outage) on either side.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

N=5
MD5_USER=dblat_md5u
SCRAM_USER=dblat_scramu
PASS=s3cret-pw
TRUST_USER=postgres

pg_start --ssl --conf "log_connections = on" --md5 "$MD5_USER:$PASS" --scram "$SCRAM_USER:$PASS"

mkdir -p "$TEST_TMP/bin"
declare -A COMM USER
for m in trust md5 scram tls; do
	c="psq${m:0:1}${m:1:1}-e2e-$$"
	COMM[$m]=${c:0:15}
	ln -s "$PG_BIN/psql" "$TEST_TMP/bin/${COMM[$m]}"
done
USER[trust]=$TRUST_USER
USER[md5]=$MD5_USER
USER[scram]=$SCRAM_USER
USER[tls]=$TRUST_USER

out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$PG_PID" -c "${COMM[trust]}" -c "${COMM[md5]}" -c "${COMM[scram]}" -c "${COMM[tls]}" --tls-probes
log_from=$(($(stat -c %s "$PG_LOG") + 1))
for ((i = 1; i <= N; i++)); do
	for m in trust md5 scram; do
		r=$(PGPASSWORD=$PASS PGSSLMODE=disable timeout 30 "$TEST_TMP/bin/${COMM[$m]}" -X -At -h "$PGHOST_TCP" -p "$PGPORT" \
			-U "${USER[$m]}" -d postgres -c "SELECT current_user" 2>&1)
		[ "$r" = "${USER[$m]}" ] || fail "harness: psql as ${USER[$m]} ($m) printed '$r'"
	done
done
tls_log_from=$(($(stat -c %s "$PG_LOG") + 1))
for ((i = 1; i <= N; i++)); do
	r=$(PGSSLMODE=require timeout 30 "$TEST_TMP/bin/${COMM[tls]}" -X -At -h "$PGHOST_TCP" -p "$PGPORT" \
		-U "${USER[tls]}" -d postgres -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)
	[ "$r" = t ] || fail "harness: psql with sslmode=require printed '$r'"
done
sleep 0.3
dblat_stop

head -c "$((tls_log_from - 1))" "$PG_LOG" | tail -c +"$log_from" >"$TEST_TMP/pg.log"
tls_authz=$(tail -c +"$tls_log_from" "$PG_LOG" | grep -c "connection authorized: user=${USER[tls]} .*SSL enabled")
declare -A LOG_AUTHZ
for m in trust md5 scram; do
	LOG_AUTHZ[$m]=$(grep -c "connection authorized: user=${USER[$m]} " "$TEST_TMP/pg.log")
done
log_md5=$(grep -c "connection authenticated: identity=\"$MD5_USER\" method=md5 " "$TEST_TMP/pg.log")
log_scram=$(grep -c "connection authenticated: identity=\"$SCRAM_USER\" method=scram-sha-256 " "$TEST_TMP/pg.log")
echo "postgres log: authorized trust ${LOG_AUTHZ[trust]}, md5 ${LOG_AUTHZ[md5]}, scram ${LOG_AUTHZ[scram]};" \
	"authenticated md5 $log_md5, scram-sha-256 $log_scram"
for m in trust md5 scram; do
	[ "${LOG_AUTHZ[$m]}" -eq "$N" ] || fail "harness: the log shows ${LOG_AUTHZ[$m]} $m sessions, expected $N"
done
if [ "$log_md5" -ne "$N" ] || [ "$log_scram" -ne "$N" ]; then fail "harness: the log's authenticated lines do not match"; fi

# Client side: sum over the psql processes of one method (one pid per run).
csum() { jq -r --arg c "$1" "[.processes[] | select(.side == \"client\" and .comm == \$c) | $2] | add // 0" "$out"; }
# Median over those processes (one session each) of the auth phase: one
# run slowed down by the machine's load does not decide the comparison.
auth_median() { jq -r --arg c "$1" '[.processes[] | select(.side == "client" and .comm == $c) | .sessions.phases.auth.us.mean]
	| sort | if length == 0 then 0 else .[(length / 2 | floor)] end' "$out"; }

declare -A WANT_RT=([trust]=0 [md5]=1 [scram]=2)
declare -A KEY=([trust]=trust [md5]=md5 [scram]=scram-sha-256)
for m in trust md5 scram; do
	c=${COMM[$m]}
	check "$m: client processes" "$(jq --arg c "$c" '[.processes[] | select(.side == "client" and .comm == $c)] | length' "$out")" "$N"
	check "$m: client sessions opened" "$(csum "$c" .sessions.opened)" "${LOG_AUTHZ[$m]}"
	for k in trust md5 scram; do
		want=0
		[ "$k" = "$m" ] && want=${LOG_AUTHZ[$m]}
		check "$m: client auth.${KEY[$k]}" "$(csum "$c" ".sessions.auth[\"${KEY[$k]}\"]")" "$want"
	done
	check "$m: client auth_roundtrips" "$(csum "$c" .sessions.auth_roundtrips)" $((WANT_RT[$m] * N))
	check "$m: client auth phase count" "$(csum "$c" .sessions.phases.auth.count)" "$N"
done

[ "$tls_authz" -eq "$N" ] || fail "harness: the log shows $tls_authz SSL sessions, expected $N"

c=${COMM[tls]}
check "tls: client processes" "$(jq --arg c "$c" '[.processes[] | select(.side == "client" and .comm == $c)] | length' "$out")" "$N"
check "tls: client sessions failed" "$(csum "$c" '(.sessions.failed | add)')" 0
check "tls: client outages" "$(csum "$c" '(.outages | length)')" 0

srv=".processes[] | select(.pid == $PG_PID and .side == \"server\")"
# Encrypted sessions count as opened only when dblat can see (or infer) their
# set-up; either way both ends must agree.
check "server sessions opened == the clients' (all four names)" "$(jget "$out" "$srv | .sessions.opened")" \
	"$(jq --arg a "${COMM[trust]}" --arg b "${COMM[md5]}" --arg c "${COMM[scram]}" --arg d "${COMM[tls]}" \
		'[.processes[] | select(.side == "client" and (.comm == $a or .comm == $b or .comm == $c or .comm == $d)) | .sessions.opened] | add' "$out")"
# With the TLS probes, the encrypted sessions' (trust) authentication is seen in plaintext too.
check "tls: client auth.trust (decrypted by the TLS probes)" "$(csum "${COMM[tls]}" .sessions.auth.trust)" "$tls_authz"
check "server auth.trust" "$(jget "$out" "$srv | .sessions.auth.trust")" "$((LOG_AUTHZ[trust] + tls_authz))"
check "server auth.md5" "$(jget "$out" "$srv | .sessions.auth.md5")" "$log_md5"
check "server auth.scram-sha-256" "$(jget "$out" "$srv | .sessions.auth[\"scram-sha-256\"]")" "$log_scram"
check "server auth_roundtrips" "$(jget "$out" "$srv | .sessions.auth_roundtrips")" $(((WANT_RT[md5] + WANT_RT[scram]) * N))
check "server sessions failed (encrypted ones included)" "$(jget "$out" "[$srv | .sessions.failed[]] | add")" 0

t_auth=$(auth_median "${COMM[trust]}")
m_auth=$(auth_median "${COMM[md5]}")
s_auth=$(auth_median "${COMM[scram]}")
echo "client auth phase, median of $N sessions (us): trust $t_auth, md5 $m_auth, scram-sha-256 $s_auth"
awk -v s="$s_auth" -v m="$m_auth" 'BEGIN { exit !(s > m && m > 0) }'
check_true "SCRAM's auth phase is longer than md5's on the client" $? "($s_auth us > $m_auth us)"
awk -v t="$t_auth" -v m="$m_auth" 'BEGIN { exit !(m > t) }'
check_true "md5's auth phase is longer than trust's" $? "($m_auth us > $t_auth us)"
[ "$_CHECK_FAILS" -eq 0 ] || jq -c '.processes[] | {pid, side, comm, sessions: (.sessions | {opened, auth, auth_roundtrips, auth_phase: .phases.auth})}' "$out"
finish
