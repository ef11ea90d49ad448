#!/usr/bin/env bash
# Record once, render anywhere:
#  - `dblat record -o A --json live.json` then `dblat report A --json rep.json`
#    give the same statements (compared with jq, order aside), and the
#    exports written live and from the report are identical;
#  - --flame-weight calls: the folded statement calls per process are the
#    JSON's calls;
#  - `dblat diff A B` of a lookup on an unindexed column of a 100k-row
#    table (A) and of the same lookup after CREATE INDEX (B) shows the
#    lookup faster in B: first in the text and JSON, mean ratio B/A well
#    under 1, its folded-diff weight lower in B, its frame blue in the
#    differential flame graph, which loads in headless Chromium.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
need_cmd chromium

LOOKUP='SELECT id FROM lookup WHERE val = $1'
pg_start
pg_sql "CREATE TABLE lookup (id int PRIMARY KEY, val int NOT NULL, pad text);
	INSERT INTO lookup SELECT g, (g * 7919) % 100003, repeat('x', 40) FROM generate_series(1, 100000) g;
	ANALYZE lookup" >/dev/null || fail "cannot create the lookup table"

own_comm PGB_COMM "$PG_BIN/pgbench" pgb-dif
mkdir -p "$TEST_TMP/out"
O=$TEST_TMP/out
printf '%s\n' '\set v random(1, 100000)' 'SELECT id FROM lookup WHERE val = :v;' >"$O/lookup.sql"

# record_run NAME: dblat record around a pgbench run of the lookup.
record_run() {
	local name=$1 i
	DBLAT_LOG="$TEST_TMP/record-$name.err"
	DBLAT_OUT="$TEST_TMP/record-$name.out"
	DBLAT_JSON="$O/$name-live.json"
	env --default-signal=INT,TERM,QUIT "$DBLAT" record --full -o "$O/$name.dblat" --json "$DBLAT_JSON" \
		--folded "$O/$name-live.folded" --prom "$O/$name-live.prom" \
		-p "$PG_PID" -c "$PGB_COMM" >"$DBLAT_OUT" 2>"$DBLAT_LOG" </dev/null &
	DBLAT_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^dblat: attached' "$DBLAT_LOG" 2>/dev/null && break
		_alive "$DBLAT_PID" || fail "dblat record exited before attaching"
		sleep 0.1
	done
	grep -q '^dblat: attached' "$DBLAT_LOG" || fail "dblat record did not attach"
	bg_start 180 "$TEST_TMP/bin/$PGB_COMM" -n -f "$O/lookup.sql" -c 2 -j 2 -t 150 -M extended \
		-h "$PGHOST_TCP" -p "$PGPORT" -U postgres postgres >"$O/$name-pgbench.out" 2>&1
	bg_wait "$BG_PID" || { cat "$O/$name-pgbench.out"; fail "pgbench ($name) failed"; }
	dblat_stop
	[ -s "$O/$name.dblat" ] || fail "no recording $name.dblat"
}

sorted_statements() { jq -S '.statements | sort_by(.side, .comm, .query)' "$1"; }

echo "== run A: no index"
record_run A
echo "== run B: after CREATE INDEX"
pg_sql "CREATE INDEX lookup_val ON lookup (val); ANALYZE lookup" >/dev/null || fail "CREATE INDEX failed"
record_run B

echo "== report reproduces the live run"
for r in A B; do
	"$DBLAT" report "$O/$r.dblat" --json "$O/$r-rep.json" --folded "$O/$r-rep.folded" --prom "$O/$r-rep.prom" \
		>"$O/$r-report.out" 2>"$O/$r-report.err"
	check "dblat report $r exit status" $? 0
	if diff <(sorted_statements "$O/$r-live.json") <(sorted_statements "$O/$r-rep.json") >"$O/$r-json.diff"; then
		check "$r: report statements = live statements" same same
	else
		head -n 40 "$O/$r-json.diff"
		check "$r: report statements = live statements" different same
	fi
	n=$(jq '.statements | length' "$O/$r-rep.json")
	[ "$n" -ge 2 ]
	check_true "$r: report has statements ($n)" $?
	cmp -s "$O/$r-live.folded" "$O/$r-rep.folded"
	check_true "$r: folded from the report = folded from the live run" $?
	cmp -s "$O/$r-live.prom" "$O/$r-rep.prom"
	check_true "$r: prometheus from the report = from the live run" $? \
		"$(diff "$O/$r-live.prom" "$O/$r-rep.prom" | head -n 6 | tr '\n' ' ')"
done

echo "== --flame-weight calls"
"$DBLAT" report "$O/A.dblat" --folded "$O/A-calls.folded" --flame-weight calls >/dev/null 2>"$O/A-calls.err"
check "report --flame-weight calls exit status" $? 0
jq -r '.statements | group_by(.side + ":" + .comm)[] | "\(.[0].side):\(.[0].comm)\t\(map(.calls) | add)"' \
	"$O/A-rep.json" | sort >"$O/calls-json.tsv"
awk '{
		w = $NF; stack = substr($0, 1, length($0) - length(w) - 1)
		n = split(stack, f, ";")
		if (f[2] ~ /^(query|transaction control|setup|reset|ping|maintenance)$/) t[f[1]] += w
		# statements bound to an HTTP request: server:comm;METHOD route;phase;statement
		if (n == 4 && f[1] ~ /^server:/ && f[3] ~ /^(query|transaction control|setup|reset|ping|maintenance)$/)
			t["client:" substr(f[1], 8)] += w
		if (n == 5 && f[1] ~ /^server:/ && f[3] == "after response")
			t["client:" substr(f[1], 8)] += w
	} END { for (r in t) printf "%s\t%d\n", r, t[r] }' "$O/A-calls.folded" | sort >"$O/calls-folded.tsv"
if cmp -s "$O/calls-json.tsv" "$O/calls-folded.tsv"; then
	check "folded calls per process = JSON calls" same same
else
	paste "$O/calls-json.tsv" "$O/calls-folded.tsv"
	check "folded calls per process = JSON calls" different same
fi

echo "== diff"
"$DBLAT" diff "$O/A.dblat" "$O/B.dblat" --json "$O/diff.json" --folded "$O/diff.folded" --svg "$O/diff.svg" \
	>"$O/diff.txt" 2>"$O/diff.err"
check "dblat diff exit status" $? 0
sed 's/^/    /' "$O/diff.txt" | head -n 30
grep -q '^phases:' "$O/diff.txt"
check_true "diff prints per-phase changes" $?
first=$(jq -r '.statements[0].query' "$O/diff.json")
check "statement with the largest change" "$first" "$LOOKUP"
for side in client server; do
	r=$(jq -r --arg q "$LOOKUP" --arg s "$side" '.statements[] | select(.query == $q and .side == $s) | .mean_ratio' "$O/diff.json")
	a=$(jq -r --arg q "$LOOKUP" --arg s "$side" '.statements[] | select(.query == $q and .side == $s) | .a.mean_us' "$O/diff.json")
	b=$(jq -r --arg q "$LOOKUP" --arg s "$side" '.statements[] | select(.query == $q and .side == $s) | .b.mean_us' "$O/diff.json")
	awk -v r="$r" 'BEGIN { exit !(r != "" && r != "null" && r + 0 < 0.5) }'
	check_true "$side lookup faster in B (mean A ${a}us, B ${b}us, B/A $r)" $?
done
# The text table: the lookup's row comes first, its ratio under 1.
awk -v q="$LOOKUP" 'f && index($0, q) { print; exit } /^SIDE / { f = 1 }' "$O/diff.txt" | grep -qE ' 0\.[0-9]+x '
check_true "text diff shows the lookup with a ratio under 1" $?

awk '$0 !~ /^[^;]+(;[^;]+)* [0-9]+ [0-9]+$/ { bad++ } END { exit bad > 0 || NR == 0 }' "$O/diff.folded"
check_true "folded diff lines are 'stack weightA weightB'" $?
awk -v k="client:$PGB_COMM;query;$LOOKUP" '
	{ w2 = $NF; w1 = $(NF - 1); stack = substr($0, 1, length($0) - length(w1) - length(w2) - 2) }
	stack == k { self = 1; a += w1; b += w2 }
	index(stack, k ";") == 1 { a += w1; b += w2 }
	END { exit !(self && a > 2 * b) }' "$O/diff.folded"
check_true "folded diff: the client lookup weighs less in B" $?

# The lookup's frame: from its <g> to the </g> (the tooltip spans lines).
awk -v k="data-n=\"$LOOKUP\"" 'index($0, k) { f = 1 } f { print } f && /<\/g>/ { exit }' "$O/diff.svg" >"$O/diff-frame.svg"
fill=$(sed -nE 's/.*<rect [^>]*fill="(rgb\([0-9]+,[0-9]+,[0-9]+\))".*/\1/p' "$O/diff-frame.svg" | head -n 1)
[[ "$fill" =~ ^rgb\(([0-9]+),([0-9]+),255\)$ ]] && [ "${BASH_REMATCH[1]}" -lt 200 ]
check_true "differential flame graph: the lookup is blue ($fill)" $?
grep -q '^change: -[0-9.]*%' "$O/diff-frame.svg"
check_true "its tooltip gives the change" $?
prof=$(mktemp -d "$TEST_TMP/chrome.XXXXXX")
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
	--disable-component-update --disable-sync --no-first-run --user-data-dir="$prof" --enable-logging=stderr --v=0 \
	--dump-dom "file://$O/diff.svg#q=lookup" >"$O/diff.dom" 2>"$O/diff.chrome.err"
check_true "chromium loads the differential SVG" $?
! grep -q ':CONSOLE' "$O/diff.chrome.err"
check_true "no console messages" $?
grep -qE 'Matched: [0-9]+\.[0-9]%' "$O/diff.dom"
check_true "its script ran" $?
finish
