#!/usr/bin/env bash
# dblat's test runner (called by `make test` after the build).
#
#   tests/run.sh [UNIT_BIN] [FILTER...]
#
# Runs the unit test binary (UNIT_BIN argument, else $UNIT_BIN, else
# .output/unit_tests), then every tests/e2e/*.sh in order, each in its own
# process with a timeout (E2E_TIMEOUT, 300 s). A FILTER (e.g. e2e/core_pgbench
# or unit) selects the tests whose name contains it. Test output is shown
# only on failure, or always with V=1.
#
# Environment: DBLAT (the binary, default ./dblat), E2E_TIMEOUT,
# KEEP_TMP_ON_FAIL=1 (keep a failed test's files: dblat JSON and logs).
#
# Prints PASS name (Xs) / FAIL name / SKIP name: reason per test and, last,
# "N passed, M failed" (", K skipped" when some were). Exit status 1 if any
# test failed.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Paths given relative to the caller's directory stay valid after the cd.
if [ -n "${DBLAT:-}" ]; then
	case "$DBLAT" in /*) ;; *) DBLAT="$PWD/$DBLAT" ;; esac
	export DBLAT
fi
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

V=${V:-0}
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
unit_bin=${UNIT_BIN:-}
filters=()
for a in "$@"; do
	case "$a" in
	*.sh | e2e/* | */e2e/* | unit) is_filter=1 ;;
	*) is_filter=0 ;;
	esac
	if [ "$is_filter" = 0 ] && [ -z "$unit_bin" ] && [ -f "$a" ] && [ -x "$a" ]; then
		unit_bin=$a
	else
		a=${a#./}
		a=${a#tests/}
		filters+=("${a%.sh}")
	fi
done
unit_explicit=1
[ -n "$unit_bin" ] || { unit_bin=$ROOT/.output/unit_tests; unit_explicit=0; }
unit_bin=$(abspath "$unit_bin")
cd "$ROOT" || exit 1

passed=0 failed=0 skipped=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/dblat-tests.XXXXXX") || exit 1
cur=
# On INT/TERM, stop the running test (timeout passes the signal on to the
# test's whole process group, so its trap cleans up) before leaving.
on_signal() {
	if [ -n "$cur" ]; then
		kill -TERM "$cur" 2>/dev/null
		wait "$cur" 2>/dev/null
	fi
	exit "$1"
}
trap 'rm -rf "$logdir"' EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

selected() {
	local f
	[ ${#filters[@]} -eq 0 ] && return 0
	for f in "${filters[@]}"; do
		case "$1" in *"$f"*) return 0 ;; esac
	done
	return 1
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

show_log() {
	# $1 log file: the whole log when short, else its start and end.
	local n
	n=$(wc -l <"$1")
	if [ "$V" = 1 ] || [ "$n" -le 300 ]; then
		sed 's/^/    /' "$1"
	else
		head -n 40 "$1" | sed 's/^/    /'
		echo "    ... ($((n - 240)) lines omitted) ..."
		tail -n 200 "$1" | sed 's/^/    /'
	fi
}

# ---- unit tests ----
if selected unit; then
	if [ ! -x "$unit_bin" ]; then
		if [ "$unit_explicit" = 1 ]; then
			echo "FAIL unit: $unit_bin not found or not executable (build it with make)"
			failed=$((failed + 1))
		else
			echo "SKIP unit: ${unit_bin#"$ROOT"/} not built"
			skipped=$((skipped + 1))
		fi
	else
		log="$logdir/unit.log"
		t0=$(now)
		timeout -k 10 "$E2E_TIMEOUT" "$unit_bin" >"$log" 2>&1 </dev/null &
		cur=$!
		wait "$cur" 2>/dev/null
		rc=$?
		cur=
		t1=$(now)
		summary=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
		if [ -n "$summary" ]; then
			up=$(sed -E 's/^unit: ([0-9]+) passed.*/\1/' <<<"$summary")
			uf=$(sed -E 's/^unit: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$summary")
		else
			up=0 uf=0
		fi
		# A crash or a non-zero exit with no failure counted is one failure.
		if [ "$rc" -ne 0 ] && [ "$uf" -eq 0 ]; then
			uf=1
		fi
		passed=$((passed + up))
		failed=$((failed + uf))
		if [ "$uf" -eq 0 ] && [ -n "$summary" ]; then
			echo "PASS unit: $up passed ($(secs "$t0" "$t1")s)"
			[ "$V" = 1 ] && show_log "$log"
		else
			if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
				echo "FAIL unit: timed out after ${E2E_TIMEOUT}s"
			elif [ -z "$summary" ]; then
				echo "FAIL unit: exit status $rc, no 'unit: N passed, M failed' line"
			else
				echo "FAIL unit: $up passed, $uf failed (exit status $rc)"
			fi
			show_log "$log"
		fi
	fi
fi

# ---- end-to-end tests ----
e2e_skip=
if [ "$(id -u)" -ne 0 ]; then
	e2e_skip="needs root (dblat loads BPF programs): run 'sudo make test'"
elif [ ! -r /sys/kernel/btf/vmlinux ]; then
	e2e_skip="kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
fi

shopt -s nullglob
for t in tests/e2e/*.sh; do
	name=e2e/$(basename "$t" .sh)
	selected "$name" || continue
	if [ -n "$e2e_skip" ]; then
		echo "SKIP $name: $e2e_skip"
		skipped=$((skipped + 1))
		continue
	fi
	log="$logdir/$(basename "$t" .sh).log"
	t0=$(now)
	# Own process group under timeout: a timed-out test and everything it
	# started get SIGTERM (the test's trap stops dblat and the cluster),
	# then SIGKILL 90 s later.
	timeout -k 90 "$E2E_TIMEOUT" bash "$t" >"$log" 2>&1 </dev/null &
	cur=$!
	wait "$cur" 2>/dev/null
	rc=$?
	cur=
	t1=$(now)
	case $rc in
	0)
		echo "PASS $name ($(secs "$t0" "$t1")s)"
		passed=$((passed + 1))
		[ "$V" = 1 ] && show_log "$log"
		;;
	77)
		reason=$(grep -E '^SKIP: ' "$log" | tail -n 1 | sed 's/^SKIP: //')
		echo "SKIP $name: ${reason:-no reason given}"
		skipped=$((skipped + 1))
		[ "$V" = 1 ] && show_log "$log"
		;;
	*)
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name: timed out after ${E2E_TIMEOUT}s"
		else
			reason=$(grep -E '^FAIL: ' "$log" | tail -n 1 | sed 's/^FAIL: //')
			echo "FAIL $name${reason:+: $reason}"
		fi
		failed=$((failed + 1))
		show_log "$log"
		;;
	esac
done

if [ ${#filters[@]} -gt 0 ] && [ $((passed + failed + skipped)) -eq 0 ]; then
	echo "run.sh: no test matches: ${filters[*]}"
	failed=1
fi

summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
