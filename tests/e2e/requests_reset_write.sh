#!/usr/bin/env bash
# An HTTP answer that never reached its client, learnt from a write: each
# client reads the status line, then resets the connection; the server's
# write of the body fails and it closes without reading again. Every such
# answer must be counted unread (the server's own count of failed writes is
# the ground truth), none closed without an answer.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS="$ROOT/tests/clients/http_reset_peers.py"
N=5
port=$(_pick_port) || fail "no free port"
bg_start 60 "$PY" "$PEERS" server "$port" "$N" >"$TEST_TMP/server.out" 2>&1
server=$BG_PID
for ((i = 0; i < 50; i++)); do
	grep -q listening "$TEST_TMP/server.out" && break
	sleep 0.1
done
out="$TEST_TMP/dblat.json"
dblat_start "$out" -p "$server"
"$PY" "$PEERS" client "$port" "$N" || fail "the client failed"
_wait_gone "$server" 30 || fail "the server did not finish"
dblat_stop
cat "$TEST_TMP/server.out"
failed=$(sed -n 's/^{/{/p' "$TEST_TMP/server.out" | jq .failed_writes)
check "the server's body writes failed (its own count)" "$failed" "$N"
read -r count unread no_resp <<<"$(jq -r --argjson p "$server" '[.requests[] | select(.pid == $p)] | [(map(.count) | add // 0), (map(.unread) | add // 0), (map(.no_response) | add // 0)] | @tsv' "$out")"
check "answers counted" "$count" "$N"
check "answers unread (the server's failed writes)" "$unread" "$failed"
check "requests closed before an answer" "$no_resp" 0
finish
