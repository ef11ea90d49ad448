#!/usr/bin/env bash
# Latency percentiles from pgbench per-transaction logs (pgbench -l).
#
# usage: pct.sh [--skip-s S] [--far-from HOOKS [--shift-us N]] LOGFILE...
#        prints one JSON object on stdout
#
# --skip-s S leaves out the transactions scheduled in the first S seconds of
# the logs (from the earliest scheduled start): a run's start, while its
# backends are new and fault in the shared buffers, makes a backlog of
# tens of milliseconds that is the same traced or not, and at -R over a
# few seconds it alone is more than 1% of the transactions.
#
# --far-from HOOKS keeps only the transactions far from any stretch with
# dblat's hooks attached: none of it within 20 ms before they came or
# 100 ms after they left. HOOKS holds dblat -v's "dblat: hooks on|off at
# EPOCH.US" lines (the hooks are attached until the first "off").
# --shift-us N moves those times by N microseconds: another run's hooks laid
# over these logs, as if that run's start were this one's.
#
# Each line of a pgbench -l log is
#     client_id transaction_no time script_no time_epoch time_us [schedule_lag]
# where time is the transaction's latency in microseconds. Under --rate it is
# counted from the transaction's scheduled start, so it includes schedule_lag:
# the latency an open-loop client sees at that arrival rate. "service" is
# time - schedule_lag, the latency from the actual send. Skipped transactions
# (time "skipped", only with --latency-limit) are counted apart.
#
# Output: {"n", "skipped", "t0_us", "total": {...}, "service": {...}}: t0_us is the
# earliest scheduled start (epoch microseconds, before --skip-s); each of total and
# service with mean_us, p50_us, p90_us, p99_us, p999_us, max_us (null when there
# is no transaction). Percentiles are nearest rank over all transactions: the
# k-th smallest value, k = ceil(p * n / 100), clamped to 1..n.
set -euo pipefail
SKIP_S=0
HOOKS=/dev/null
FAR=0
SHIFT_US=0
while [ $# -gt 0 ]; do
	case "$1" in
	--skip-s)
		SKIP_S=${2:-}
		[[ "$SKIP_S" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "pct.sh: --skip-s wants seconds" >&2; exit 2; }
		shift 2 ;;
	--far-from) HOOKS=${2:-}; FAR=1; shift 2 ;;
	--shift-us)
		SHIFT_US=${2:-}
		[[ "$SHIFT_US" =~ ^-?[0-9]+$ ]] || { echo "pct.sh: --shift-us wants whole microseconds" >&2; exit 2; }
		shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: pct.sh [--skip-s S] [--far-from HOOKS [--shift-us N]] LOGFILE..." >&2; exit 2; }
for f in "$@" "$HOOKS"; do
	[ -r "$f" ] || { echo "pct.sh: cannot read $f" >&2; exit 1; }
done

# Tag 0: total latency, tag 1: service latency, tag 2: the skipped count
# (sorts last). Sorted numerically within a tag, so the second awk reads
# each list in ascending order.
# The earliest scheduled start, in microseconds (printed whole: awk would round a large number).
T0=$(awk 'NF >= 6 && $3 != "skipped" { s = $5 * 1e6 + $6 - $3; if (!n++ || s < t0) t0 = s }
	END { printf "%.0f\n", n ? t0 : 0 }' "$@")
FILES=("$@")
[ "$FAR" = 0 ] || FILES=("$HOOKS" "$@")
awk -v from="$T0" -v skip="$SKIP_S" -v far="$FAR" -v hooks="$HOOKS" -v shift_us="$SHIFT_US" '
	function near(a, b,    i) {
		for (i = 1; i <= nspan; i++)
			if (on[i] - 20000 < b && off[i] + 100000 > a)
				return 1
		return 0
	}
	BEGIN { nspan = 0; hooked = 1; open_at = -1e18 }
	far && FILENAME == hooks {
		if ($1 == "dblat:" && $2 == "hooks" && ($3 == "on" || $3 == "off")) {
			split($5, hm, ".")
			us = hm[1] * 1e6 + hm[2] + shift_us
			if ($3 == "off" && hooked) { on[++nspan] = open_at; off[nspan] = us; hooked = 0 }
			else if ($3 == "on" && !hooked) { open_at = us; hooked = 1 }
		}
		next
	}
	far && !started++ && hooked { on[++nspan] = open_at; off[nspan] = 1e18 }
	NF < 6 { next }
	$5 * 1e6 + $6 - ($3 == "skipped" ? 0 : $3) < from + skip * 1e6 { next }
	far && near($5 * 1e6 + $6 - ($3 == "skipped" ? 0 : $3), $5 * 1e6 + $6) { next }
	$3 == "skipped" { skipped++; next }
	{
		t = $3 + 0
		print "0", $3
		if (NF >= 7) printf "1 %.17g\n", t - $7
		else print "1", $3
	}
	END { print "2", skipped + 0 }
' "${FILES[@]}" | LC_ALL=C sort -k1,1n -k2,2g | awk -v t0="$T0" '
	function num(x) { return sprintf("%.17g", x) }
	# index (1-based) of the nearest-rank p-th percentile of n sorted values:
	# ceil(p * n / 100) computed exactly on the double p * n, clamped to 1..n
	function rank(p, n,    x, c) {
		x = p * n
		c = int(x / 100)
		while (c * 100 < x) c++
		while ((c - 1) * 100 >= x) c--
		if (c > n) c = n
		if (c < 1) c = 1
		return c
	}
	function stats(tag,    n, s, i, out) {
		n = cnt[tag]
		if (n == 0)
			return "{\"mean_us\": null, \"p50_us\": null, \"p90_us\": null, \"p99_us\": null, \"p999_us\": null, \"max_us\": null}"
		s = 0
		for (i = 1; i <= n; i++) s += v[tag, i]
		out = "{\"mean_us\": " num(s / n)
		out = out ", \"p50_us\": " num(v[tag, rank(50, n)])
		out = out ", \"p90_us\": " num(v[tag, rank(90, n)])
		out = out ", \"p99_us\": " num(v[tag, rank(99, n)])
		out = out ", \"p999_us\": " num(v[tag, rank(p999, n)])
		out = out ", \"max_us\": " num(v[tag, n]) "}"
		return out
	}
	BEGIN { p999 = "99.9" + 0 }
	$1 == 2 { skipped = $2; next }
	{ v[$1, ++cnt[$1]] = $2 + 0 }
	END {
		printf "{\"n\": %s, \"skipped\": %s, \"t0_us\": %s, \"total\": %s, \"service\": %s}\n", \
			num(cnt[0] + 0), num(skipped + 0), t0, stats(0), stats(1)
	}
'
