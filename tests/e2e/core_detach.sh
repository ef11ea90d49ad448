#!/usr/bin/env bash
# dblat must leave no BPF program or link behind, whichever way it ends:
# SIGINT, SIGTERM or -d. Its programs are named dbl_*.
#
# Other BPF users (another dblat, say) may come and go meanwhile: a program
# or link that appeared during the run but is held open by a live process
# (seen in /proc/*/fdinfo) is someone else's and only reported. One held by
# no process, or any dbl_* program held by no process, is a leak.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
e2e_init
need_cmd bpftool
bpftool prog show -j >/dev/null 2>&1 || skip "bpftool prog show does not work here"

pg_start

prog_ids() { bpftool prog show -j 2>/dev/null | jq -r '.[].id' | sort; }
link_ids() { bpftool link show -j 2>/dev/null | jq -r '.[].id' | sort; }
dbl_prog_ids() { bpftool prog show -j 2>/dev/null | jq -r '.[] | select((.name // "") | startswith("dbl_")) | .id' | sort; }
# Ids in list $2 and not in list $1 (newline-separated).
new_ids() { comm -13 <(printf '%s\n' "$1" | sort) <(printf '%s\n' "$2" | sort) | grep -v '^$'; }
# fd_ids KIND [PID]: prog or link ids some live process (or PID) has an fd on.
fd_ids() {
	local files
	if [ -n "${2:-}" ]; then files="/proc/$2/fdinfo/*"; else files="/proc/[0-9]*/fdinfo/*"; fi
	# shellcheck disable=SC2086
	grep -s -h -E "^$1_id:" $files 2>/dev/null | awk '{ print $2 }' | sort -u
}
# unheld KIND IDS: those of IDS no process has an fd on.
unheld() {
	comm -23 <(printf '%s\n' "$2" | grep -v '^$' | sort -u) <(fd_ids "$1")
}
describe() {
	local id
	for id in $2; do
		bpftool "$1" show id "$id" 2>/dev/null | head -n 1 | sed 's/^/      /'
	done
}

load() {
	local i
	for ((i = 0; i < 5; i++)); do
		timeout 20 psql -X -q -h "$PGSOCKDIR" -p "$PGPORT" -U postgres -d postgres -c 'SELECT 1' >/dev/null ||
			fail "psql load failed"
	done
}

for how in SIGINT SIGTERM duration; do
	echo "== ending with $how"
	progs0=$(prog_ids)
	links0=$(link_ids)
	dbl0=$(dbl_prog_ids)
	pins0=$(find /sys/fs/bpf -mindepth 1 2>/dev/null | sort)
	out="$TEST_TMP/dblat-$how.json"
	case $how in
	duration) dblat_start "$out" -p "$PG_PID" -d 2 ;;
	*) dblat_start "$out" -p "$PG_PID" ;;
	esac
	t0=$(date +%s.%N)
	pid=$DBLAT_PID

	# While it runs: it holds programs named dbl_*. Note every program and
	# link it holds: all must be gone once it has exited.
	held_p=$(fd_ids prog "$pid")
	held_l=$(fd_ids link "$pid")
	mine=$(comm -12 <(new_ids "$dbl0" "$(dbl_prog_ids)" | sort -u) <(echo "$held_p") | grep -c .)
	echo "  while running: dblat (pid $pid) holds $mine new dbl_* programs;" \
		"$(echo "$held_p" | grep -c .) program and $(echo "$held_l" | grep -c .) link ids in all"
	if _alive "$pid"; then
		[ "$mine" -gt 0 ]
		check_true "$how: dblat's programs are loaded and named dbl_* while it runs" $?
	elif [ "$how" != duration ]; then
		fail "$how: dblat exited on its own"
	fi

	load
	case $how in
	SIGINT) dblat_stop INT ;;
	SIGTERM) dblat_stop TERM ;;
	duration)
		dblat_wait 30
		el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		awk -v e="$el" 'BEGIN { exit !(e >= 1.0 && e <= 12.0) }'
		check_true "$how: -d 2 ended on its own about 2 s after attaching" $? "(after ${el}s)"
		;;
	esac
	check "$how: exit status" "$DBLAT_RC" 0

	# Programs and links are freed when their last reference goes, after
	# a grace period: poll for up to 10 s.
	# 1. What dblat held must be gone.
	still=''
	for ((i = 0; i < 50; i++)); do
		still=$(comm -12 <(echo "$held_p") <(prog_ids | sort -u) | sed 's/^/prog /'
			comm -12 <(echo "$held_l") <(link_ids | sort -u) | sed 's/^/link /')
		still=$(echo "$still" | grep -v '^$')
		[ -z "$still" ] && break
		sleep 0.2
	done
	check "$how: programs and links dblat held that still exist" "$(echo "$still" | xargs)" ""
	# 2. No new program or link held by no process (a pinned or leaked
	# one). Others' programs are briefly unheld while they are freed: only
	# what stays unheld through every sample counts.
	persist_p='' persist_l='' first=1
	for ((i = 0; i < 20; i++)); do
		up=$(unheld prog "$(new_ids "$progs0" "$(prog_ids)")")
		ul=$(unheld link "$(new_ids "$links0" "$(link_ids)")")
		if [ "$first" = 1 ]; then
			persist_p=$up persist_l=$ul first=0
		else
			persist_p=$(comm -12 <(echo "$persist_p") <(echo "$up") | grep -v '^$')
			persist_l=$(comm -12 <(echo "$persist_l") <(echo "$ul") | grep -v '^$')
		fi
		[ -z "$persist_p" ] && [ -z "$persist_l" ] && break
		sleep 0.5
	done
	check "$how: new BPF programs held by no process" "$(echo "$persist_p" | xargs)" ""
	describe prog "$persist_p"
	check "$how: new BPF links held by no process" "$(echo "$persist_l" | xargs)" ""
	describe link "$persist_l"
	left_dbl=$(comm -12 <(echo "$persist_p") <(new_ids "$dbl0" "$(dbl_prog_ids)" | sort) | grep -v '^$')
	check "$how: dbl_* programs left behind" "$(echo "$left_dbl" | xargs)" ""
	foreign=$(comm -12 <(new_ids "$progs0" "$(prog_ids)" | sort -u) <(fd_ids prog) | grep -c .)
	[ "$foreign" -eq 0 ] || echo "  note: $foreign new programs are held by other live processes (not counted)"
	pins=$(find /sys/fs/bpf -mindepth 1 2>/dev/null | sort)
	check "$how: new entries in /sys/fs/bpf" "$(comm -13 <(echo "$pins0") <(echo "$pins") | grep -v '^$' | xargs)" ""
done
finish
