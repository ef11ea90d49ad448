#!/usr/bin/env bash
# Latency within one traced run at a fixed rate: the p99 of all its
# transactions against the p99 of those far from any stretch with dblat's
# hooks attached (at least 100 ms after they left, 20 ms before they came
# back). Both come from the same seconds, so a stall of the machine (on
# these VMs the host's memory monitor stalls them every half second) falls
# on both alike; what is left is what the hooks' stretches, their coming
# and their going cost the load. A cost while the hooks are away is not
# seen here (the pairs measure that).
#
# usage: inrun-p99.sh [--skip-s S] HOOKS LOG...
#   HOOKS: dblat -v's "dblat: hooks on|off at EPOCH.US" lines (hooks are
#          attached until the first "off")
#   LOG:   pgbench -R -l per-transaction logs; latency counts from the
#          scheduled start, which is where a transaction begins here
#   --skip-s S: leave out the first S seconds, as pct.sh does
# prints one JSON object: ratio (p99 of all / p99 far), all_p99_us,
# far_p99_us, n, far_n; null figures when there are none far.
set -euo pipefail
SKIP_S=0
if [ "${1:-}" = --skip-s ]; then
	SKIP_S=${2:-}
	shift 2
fi
[ $# -ge 2 ] || { echo "usage: inrun-p99.sh [--skip-s S] HOOKS LOG..." >&2; exit 2; }
HOOKS=$1
shift

# Times are kept as microseconds from the first whole second seen: awk may
# print a large number rounded.
awk -v skip="$SKIP_S" '
	BEGIN { AFTER = 100000; BEFORE = 20000; nspan = 0; hooked = 1; open_at = -1e18 }
	FNR == NR {
		if ($1 == "dblat:" && $2 == "hooks" && ($3 == "on" || $3 == "off")) {
			split($5, t, ".")
			us = t[1] * 1e6 + t[2]
			if ($3 == "off" && hooked) { on[++nspan] = open_at; off[nspan] = us; hooked = 0 }
			else if ($3 == "on" && !hooked) { open_at = us; hooked = 1 }
		}
		next
	}
	NF >= 6 && $3 != "skipped" {
		end = $5 * 1e6 + $6
		n++; s[n] = end - $3; e[n] = end; lat[n] = $3
		if (n == 1 || s[n] < t0) t0 = s[n]
	}
	function near(a, b,    i) {
		for (i = 1; i <= nspan; i++)
			if (on[i] - BEFORE < b && off[i] + AFTER > a)
				return 1
		return 0
	}
	END {
		if (hooked) { on[++nspan] = open_at; off[nspan] = 1e18 }
		for (i = 1; i <= n; i++) {
			if (s[i] < t0 + skip * 1e6)
				continue
			print "0", lat[i]
			if (!near(s[i], e[i]))
				print "1", lat[i]
		}
	}
' "$HOOKS" "$@" | LC_ALL=C sort -k1,1n -k2,2n | awk '
	function rank(n,    c) { c = int(99 * n / 100); if (c * 100 < 99 * n) c++; return c < 1 ? 1 : c }
	{ v[$1, ++cnt[$1]] = $2 + 0 }
	function p99(tag) { return cnt[tag] ? v[tag, rank(cnt[tag])] : "null" }
	END {
		a = p99(0); f = p99(1)
		printf "{\"ratio\": %s, \"all_p99_us\": %s, \"far_p99_us\": %s, \"n\": %d, \"far_n\": %d}\n",
			(f != "null" && f > 0 && a != "null") ? sprintf("%.4f", a / f) : "null", a, f, cnt[0], cnt[1]
	}
'
