#!/usr/bin/env bash
# pgbench under dblat with every export at once (--folded --svg --pprof
# --prom --html --json --listen), then:
#  - the folded stacks are well formed (checked strictly: no flamegraph.pl in
#    Debian) and, per process root, their statement time is the JSON's total
#    statement time of that side and process within 1% (statements bound to
#    an HTTP request, under server:comm;METHOD route, count for client:comm);
#  - the SVG and the HTML page load in headless Chromium with no console
#    message, their scripts run (search and zoom from the address), the DOM
#    holds the statement text; screenshots are taken;
#  - the pprof profile decodes (gunzip + protoc --decode_raw) with one
#    calls and one wall value per sample, and its wall total is the folded total;
#  - the Prometheus file and a live /metrics scrape pass a strict parser,
#    and the counters agree with the JSON (calls, errors, events).
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
need_cmd chromium protoc gzip
PROM_CHECK="$TESTS_DIR/lib/prom_check.awk"

pg_start
pgb_init

own_comm PGB_COMM "$PG_BIN/pgbench" pgb-exp
mkdir -p "$TEST_TMP/out"
O=$TEST_TMP/out
LPORT=$(_pick_port) || fail "no free port for --listen"

# http_get PATH OUT: one HTTP/1.0 request to dblat's listener.
http_get() {
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3
		cat <&3' _ "$LPORT" "$1" >"$2"
}
http_body() { sed '1,/^\r$/d' "$1"; }

dblat_start "$O/live.json" -p "$PG_PID" -c "$PGB_COMM" --folded "$O/db.folded" --svg "$O/flame.svg" \
	--pprof "$O/db.pb.gz" --prom "$O/db.prom" --html "$O/report.html" --listen "127.0.0.1:$LPORT"
grep -q "serving metrics at http://127.0.0.1:$LPORT/metrics" "$DBLAT_LOG" ||
	fail "dblat did not say where it serves metrics"

# A client that connects and sends nothing must not hold up the others.
exec 4<>"/dev/tcp/127.0.0.1/$LPORT" || fail "cannot connect to --listen 127.0.0.1:$LPORT"

bg_start 120 "$TEST_TMP/bin/$PGB_COMM" -n -c 4 -j 2 -t 400 -M extended \
	-h "$PGHOST_TCP" -p "$PGPORT" -U postgres postgres >"$TEST_TMP/pgbench.out" 2>&1
pgb_pid=$BG_PID
scraped=0
for ((i = 0; i < 100; i++)); do
	if http_get /metrics "$O/scrape.http" &&
		grep -q "^dblat_query_duration_seconds_count{side=\"client\",comm=\"$PGB_COMM\"" "$O/scrape.http"; then
		scraped=1
		break
	fi
	sleep 0.2
done
bg_wait "$pgb_pid" || { cat "$TEST_TMP/pgbench.out"; fail "pgbench failed"; }
http_get /nothing-here "$O/notfound.http"
exec 4>&-
dblat_stop

echo "== folded"
FOLDED=$O/db.folded
[ -s "$FOLDED" ] || fail "no folded output"
head -n 5 "$FOLDED"
# Strict format: frames root->leaf, no empty frame, a space, a positive integer.
awk '
	function bad(m) { printf "folded line %d: %s: %s\n", NR, m, $0; nbad++ }
	BEGIN {
		split("query|transaction control|setup|reset|ping|maintenance", a, "|"); for (i in a) stmtph[a[i]] = 1
		split("connect|tls|startup|auth|init", a, "|"); for (i in a) setup[a[i]] = 1
		split("queue|server|parse|plan|execute|lock_wait|reply", a, "|"); for (i in a) stage[a[i]] = 1
	}
	{
		if ($0 !~ /^[^;\n]+(;[^;\n]+)* [1-9][0-9]*$/) { bad("not frame(;frame)* weight"); next }
		w = $NF; stack = substr($0, 1, length($0) - length(w) - 1)
		if (stack in seen) bad("stack repeated")
		seen[stack] = 1
		n = split(stack, f, ";")
		if (f[1] !~ /^(client|server):/) bad("root is not side:comm")
		if (f[1] ~ /^server:/ && f[2] ~ /^[A-Z]+ \//) {
			# the request layer: server:comm;METHOD route;pool wait|app|phase;statement,
			# and statements run after the response: ...;after response;phase;statement
			if (!(n == 3 && (f[3] == "pool wait" || f[3] == "app")) && !(n == 4 && (f[3] in stmtph)) &&
			    !(n == 5 && f[3] == "after response" && (f[4] in stmtph)))
				bad("bad request frame")
			next
		}
		if (n == 2 && f[2] != "idle in transaction") bad("two frames but not idle in transaction")
		if (n >= 3 && f[2] == "session setup") { if (n != 3 || !(f[3] in setup)) bad("bad session set-up frame") }
		else if (n >= 3 && !(f[2] in stmtph)) bad("unknown phase " f[2])
		if (n == 4 && !(f[4] in stage)) bad("unknown stage " f[4])
		if (n > 4 || n < 2) bad("depth " n)
	}
	END { if (NR == 0) bad("empty"); exit nbad > 0 }' "$FOLDED"
check_true "folded stacks well formed" $?
folded_total=$(awk '{ s += $NF } END { printf "%d", s }' "$FOLDED")

# Per side:comm, statement time in the folded file against the JSON.
jq -r '.statements | group_by(.side + ":" + .comm)[] | "\(.[0].side):\(.[0].comm)\t\(map(.latency_us.total) | add)"' \
	"$O/live.json" | sort >"$O/json_roots.tsv"
awk '{
		w = $NF; stack = substr($0, 1, length($0) - length(w) - 1)
		n = split(stack, f, ";")
		if (f[2] ~ /^(query|transaction control|setup|reset|ping|maintenance)$/) t[f[1]] += w
		if (n == 4 && f[1] ~ /^server:/ && f[3] ~ /^(query|transaction control|setup|reset|ping|maintenance)$/)
			t["client:" substr(f[1], 8)] += w
		if (n == 5 && f[1] ~ /^server:/ && f[3] == "after response")
			t["client:" substr(f[1], 8)] += w
	} END { for (r in t) printf "%s\t%d\n", r, t[r] }' "$FOLDED" | sort >"$O/folded_roots.tsv"
echo "root, JSON total us, folded us:"
join -t "$(printf '\t')" -a 1 -a 2 -e MISSING -o 0,1.2,2.2 "$O/json_roots.tsv" "$O/folded_roots.tsv" | tee "$O/roots.tsv"
[ "$(wc -l <"$O/json_roots.tsv")" -ge 2 ] || fail "expected client and server roots in the JSON"
awk -F'\t' '$2 == "MISSING" || $3 == "MISSING" { bad++; next }
	{ d = $2 - $3; if (d < 0) d = -d; if ($2 > 0 && d / $2 > 0.01) bad++ }
	END { exit bad > 0 }' "$O/roots.tsv"
check_true "folded statement time per root within 1% of the JSON" $?
# The statement's own frame, or its stages under it (when they add up to all of its time).
awk -v p="client:$PGB_COMM;query;UPDATE pgbench_accounts SET abalance = abalance + \$1 WHERE aid = \$2" '
	index($0, p) == 1 && substr($0, length(p) + 1, 1) ~ /[ ;]/ { found = 1 } END { exit !found }' "$FOLDED"
check_true "folded has client:$PGB_COMM;query;UPDATE pgbench_accounts..." $?
grep -q "^client:$PGB_COMM;transaction control;BEGIN " "$FOLDED"
check_true "folded has BEGIN under transaction control" $?

echo "== pprof"
PPROF=$O/db.pb.gz
gzip -t "$PPROF"
check_true "pprof file is gzip" $?
gzip -dc "$PPROF" | protoc --decode_raw >"$O/pprof.txt" 2>"$O/protoc.err"
check_true "protoc --decode_raw reads the profile" $? "$(head -c 300 "$O/protoc.err")"
# Top-level "2 {" blocks are samples; inside, "  2: N" are the values [calls, wall].
# Samples with no wall time (all of a statement's time is in its stages) have
# no folded line.
read -r nsamples badvals calls_total wall_total < <(awk '
	/^2 \{$/ { in_s = 1; nv = 0; v2 = 0; next }
	in_s && /^\}$/ { in_s = 0; if (v2 > 0) ns++; if (nv != 2) bad++; next }
	in_s && /^  2: [0-9]+$/ { nv++; if (nv == 1) c += $2; else if (nv == 2) { w += $2; v2 = $2 }; next }
	END { printf "%d %d %d %d\n", ns, bad, c, w }' "$O/pprof.txt")
for s in '6: "calls"' '6: "count"' '6: "wall"' '6: "microseconds"'; do
	grep -qxF "$s" "$O/pprof.txt"
	check_true "pprof string table has $s" $?
done
check "pprof samples with two values each (bad)" "$badvals" 0
check "pprof samples with wall time = folded stacks" "$nsamples" "$(wc -l <"$FOLDED")"
check "pprof wall total = folded total (us)" "$wall_total" "$folded_total"
json_calls=$(jq '[.statements[].calls] | add' "$O/live.json")
[ "$calls_total" -ge "$json_calls" ]
check_true "pprof calls total ($calls_total) covers the JSON's statement calls ($json_calls)" $?

echo "== prometheus"
PROM=$O/db.prom
awk -f "$PROM_CHECK" "$PROM"
check_true "prometheus file passes the strict parser" $?
prom_sum() { # METRIC SIDE
	awk -v m="$1" -v s="side=\"$2\"" 'index($0, m "{") == 1 && index($0, s) { t += $NF } END { printf "%d", t }' "$PROM"
}
for side in client server; do
	check "prom $side calls = JSON" "$(prom_sum dblat_query_duration_seconds_count "$side")" \
		"$(jq --arg s "$side" '[.statements[] | select(.side == $s) | .calls] | add // 0' "$O/live.json")"
	check "prom $side errors = JSON" "$(prom_sum dblat_query_errors_total "$side")" \
		"$(jq --arg s "$side" '[.statements[] | select(.side == $s) | .errors] | add // 0' "$O/live.json")"
	check "prom $side rows = JSON" "$(prom_sum dblat_query_rows_total "$side")" \
		"$(jq --arg s "$side" '[.statements[] | select(.side == $s) | .rows] | add // 0' "$O/live.json")"
done
check "prom events received = JSON" "$(awk '$1 == "dblat_events_received_total" { print $2 }' "$PROM")" \
	"$(jq .events.received "$O/live.json")"
check "prom events dropped = JSON" "$(awk '$1 == "dblat_events_dropped_total" { print $2 }' "$PROM")" \
	"$(jq .events.dropped "$O/live.json")"

echo "== /metrics while running"
check "scraped /metrics with client statements during the run" "$scraped" 1
head -n 1 "$O/scrape.http" | grep -q '^HTTP/1.0 200 OK'
check_true "/metrics answers 200" $?
grep -qi '^Content-Type: text/plain; version=0.0.4' "$O/scrape.http"
check_true "/metrics content type text/plain; version=0.0.4" $?
http_body "$O/scrape.http" >"$O/scrape.prom"
awk -f "$PROM_CHECK" "$O/scrape.prom"
check_true "live /metrics passes the strict parser" $?
head -n 1 "$O/notfound.http" | grep -q '^HTTP/1.0 404 '
check_true "other paths answer 404" $?

echo "== chromium"
chrome() {
	local prof
	prof=$(mktemp -d "$TEST_TMP/chrome.XXXXXX")
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-background-networking --disable-component-update --disable-sync --no-first-run \
		--user-data-dir="$prof" --enable-logging=stderr --v=0 "$@"
}
stmt=$(jq -r --arg c "$PGB_COMM" '[.statements[] | select(.side == "client" and .comm == $c and (.query | test("^UPDATE pgbench_accounts")))][0].query // empty' "$O/live.json")
[ -n "$stmt" ] || fail "no client UPDATE pgbench_accounts statement in the JSON"
stmt_xml=$(printf '%s' "$stmt" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
for page in flame.svg report.html; do
	name=${page%%.*}
	chrome --dump-dom "file://$O/$page#q=pgbench_accounts&z=$PGB_COMM" >"$O/$name.dom" 2>"$O/$name.chrome.err"
	check_true "chromium loads $page" $?
	if grep -q ':CONSOLE' "$O/$name.chrome.err"; then
		grep ':CONSOLE' "$O/$name.chrome.err" | head -n 5
		check "$page console messages" present none
	else
		check "$page console messages" none none
	fi
	grep -qF "$stmt_xml" "$O/$name.dom"
	check_true "$page DOM holds the statement text" $?
	grep -qE 'Matched: [0-9]+\.[0-9]%' "$O/$name.dom"
	check_true "$page script ran (search shows the matched share)" $? "($(grep -oE 'Matched: [0-9.]+%' "$O/$name.dom" | head -n 1))"
	chrome --screenshot="$O/$name.png" --window-size=1300,1000 "file://$O/$page" >/dev/null 2>"$O/$name.shot.err"
	[ -s "$O/$name.png" ]
	check_true "screenshot of $page ($O/$name.png)" $?
done
grep -q 'id="statements"' "$O/report.html" && grep -q '<h2>Sessions</h2>' "$O/report.html"
check_true "HTML has the statements and sessions sections" $?
! grep -qiE '(src|href)="(https?:)?//' "$O/report.html" "$O/flame.svg"
check_true "no external resources in the SVG or the HTML" $?
finish
