# Throughput within one traced run: its mean rate against its rate far from
# any stretch with dblat's hooks attached. The two are measured in the same
# seconds, so the machine's drift, which makes traced/untraced pairs noisy,
# falls on both. What it cannot see is a cost dblat would have while its
# hooks are away (the pairs and the floors measure that).
#
# usage: awk -f inrun.awk HOOKS LOG...
#   HOOKS: dblat -v's "dblat: hooks on|off at EPOCH.US" lines (hooks are
#          attached until the first "off")
#   LOG:   pgbench -l per-transaction logs (field 5 epoch s, field 6 us)
# prints one JSON object: ratio (mean rate / far rate; null when no hook was
# attached within the run), attached (share of the run with hooks on), bins
# (10 ms bins used), far (bins far from hooks)

function near_hooks(a, b,    i) {
	# on during [a, b), or off less than AFTER before a, or on less than BEFORE after b
	for (i = 1; i <= nspan; i++) {
		if (on[i] < b && off[i] > a)
			return 2
		if ((a >= off[i] && a - off[i] < AFTER) || (on[i] >= b && on[i] - b < BEFORE))
			return 1
	}
	return 0
}

BEGIN {
	BIN = 0.01; EDGE = 0.5; AFTER = 0.1; BEFORE = 0.02
	nspan = 0; hooked = 1; open_at = -1e18
}

FNR == NR {
	if ($1 == "dblat:" && $2 == "hooks" && $3 == "off" && hooked) {
		on[++nspan] = open_at; off[nspan] = $5 + 0; hooked = 0
	} else if ($1 == "dblat:" && $2 == "hooks" && $3 == "on" && !hooked) {
		open_at = $5 + 0; hooked = 1
	}
	next
}

# Bins are counted from the first second seen: awk may key large numbers by
# a rounded string.
NF >= 6 {
	if (!base)
		base = $5 - 1
	b = int(($5 - base + $6 / 1e6) / BIN)
	n[b]++
	if (!(lo_set++) || b < lo) lo = b
	if (b > hi) hi = b
}

END {
	if (hooked) {
		on[++nspan] = open_at; off[nspan] = 1e18
	}
	first = lo + int(EDGE / BIN); last = hi - int(EDGE / BIN)
	for (b = first; b <= last; b++) {
		k = near_hooks(base + b * BIN, base + (b + 1) * BIN)
		all += n[b]; nb++
		if (k == 2) attached++
		if (k == 0) { far += n[b]; nf++ }
	}
	if (nb < 50 || nf < 20)
		printf "null\n"
	else if (!attached)	# no window in the run: its rate is its far rate by construction
		printf "{\"ratio\":null,\"attached\":0,\"bins\":%d,\"far\":%d}\n", nb, nf
	else
		printf "{\"ratio\":%.4f,\"attached\":%.4f,\"bins\":%d,\"far\":%d}\n", (all / nb) / (far / nf), attached / nb, nb, nf
}
