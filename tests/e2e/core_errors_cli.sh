#!/usr/bin/env bash
# Command-line errors: usage errors exit 2; a missing target pid and a
# non-root user exit 1 with one "dblat: ..." line on stderr.
set -u
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
need_root
need_dblat
need_cmd setpriv

# run NAME CMD...: run bounded, keep status, stdout and stderr.
run() {
	local name=$1
	shift
	timeout -k 5 20 "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" </dev/null
	RC=$?
	ERR="$TEST_TMP/$name.err"
	echo "  \$ $* -> status $RC, stderr:"
	sed 's/^/      /' "$ERR" | head -n 20
}
# one_dblat_line FILE: exactly one non-empty line, starting "dblat:".
one_dblat_line() {
	local n
	n=$(grep -c . "$1")
	[ "$n" -eq 1 ] && grep -q '^dblat:' "$1"
}

echo "== unknown flag"
run badflag "$DBLAT" --no-such-flag
check "unknown flag: exit status" "$RC" 2

echo "== -d abc, and durations no run can have"
for d in abc 0 -1 nan; do
	run dabc "$DBLAT" -d "$d"
	check "-d $d: exit status" "$RC" 2
done

echo "== -p abc"
run pabc "$DBLAT" -p abc
check "-p abc: exit status" "$RC" 2

echo "== modes that do not go together, and a budget out of range"
for args in "--budget 2 --sample 10" "--budget 2 --full" "--sample 10 --full" "--budget 2 --server-stages" \
	"--budget 0" "--budget 0.05" "--budget 51" "--budget x"; do
	# shellcheck disable=SC2086
	run modes "$DBLAT" $args -d 1
	check "$args: exit status" "$RC" 2
	grep -q . "$ERR"
	check_true "$args: says why" $?
done

echo "== -p of a pid that does not exist"
nopid=999999999
[ ! -e "/proc/$nopid" ] || skip "pid $nopid exists"
run nopid "$DBLAT" -p "$nopid" -d 1
check "-p $nopid: exit status" "$RC" 1
one_dblat_line "$ERR"
check_true "-p $nopid: one stderr line starting 'dblat:'" $?

echo "== not root"
# The unprivileged user must be able to reach the binary: use a copy in a
# world-readable directory when the original's path is closed to it.
bin=$DBLAT
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$DBLAT" 2>/dev/null; then
	mkdir -p "$TEST_TMP/bin"
	cp "$DBLAT" "$TEST_TMP/bin/dblat"
	chmod 755 "$TEST_TMP/bin" "$TEST_TMP/bin/dblat"
	bin=$TEST_TMP/bin/dblat
fi
setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin" ||
	fail "harness: uid 65534 cannot execute $bin"
run nonroot setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$bin" -d 1
check "not root: exit status" "$RC" 1
one_dblat_line "$ERR"
check_true "not root: one stderr line starting 'dblat:'" $?
grep -qi 'root' "$ERR"
check_true "not root: the line mentions root" $?

finish
