# Summary of scripts/bench-presence.sh's rounds (after stats.awk:
# awk -f stats.awk -f presence.awk ROUNDS). Input, one round a line:
#   ROUND WORKLOAD UNTRACED_TPS TRACED_TPS [INRUN]
# INRUN: the traced run's rate within it (inrun.awk's ratio), or "null".
# Per group (all rounds, each transport, each workload) one line:
#   GROUP n N geo G lo L hi H median M mlo ML mhi MH below B inrun I
# geo: geometric mean of traced/untraced, lo..hi its 90% interval (t on the
# logs' standard error); median and its distribution-free 90% interval (the
# order statistics a binomial count puts 90% between; "null" under 7
# rounds); below: rounds whose traced run was the slower; inrun: median of
# the traced runs' rates within them.
# Then "target T met|missed|unresolved" for the target ratio (-v target=T,
# default 0.97): met when the whole interval of all rounds' geometric mean
# is at or above it, missed when the whole of it is below; unresolved under
# MIN_ROUNDS rounds, where a t interval on this VM's lopsided swings (a
# round's two runs can land in different speeds of the host) means little.

function tq(df) {
	# t's 95th percentile (a two-sided 90% interval), then 1.645 past 30.
	if (df < 1) return 0
	if (df <= 30) return T[df]
	return 1.645
}

function fmt(x) {
	return x == "null" ? "null" : sprintf("%.4f", x)
}

function summarize(g, n, i, s, m, v, se, t, k, lo, hi, mlo, mhi, xs, ir, nir, b) {
	n = N[g]
	if (!n) return
	s = 0
	for (i = 1; i <= n; i++) s += L[g, i]
	m = s / n
	v = 0
	for (i = 1; i <= n; i++) v += (L[g, i] - m) ^ 2
	se = n > 1 ? sqrt(v / (n - 1) / n) : 0
	t = tq(n - 1)
	lo = n > 1 ? exp(m - t * se) : "null"
	hi = n > 1 ? exp(m + t * se) : "null"
	for (i = 1; i <= n; i++) xs[i] = L[g, i]
	sort_num(xs, n)
	# Rank k from each end: P(Binomial(n, 1/2) < k) <= 5%, normal approximation.
	k = int(n / 2 - 0.8224 * sqrt(n))
	mlo = mhi = "null"
	if (n >= 7 && k >= 1) {
		mlo = exp(xs[k])
		mhi = exp(xs[n - k + 1])
	}
	nir = 0
	for (i = 1; i <= n; i++)
		if (IR[g, i] != "null") ir[++nir] = IR[g, i]
	sort_num(ir, nir)
	b = 0
	for (i = 1; i <= n; i++) b += L[g, i] < 0
	printf "%s n %d geo %s lo %s hi %s median %s mlo %s mhi %s below %d inrun %s\n", g, n, fmt(exp(m)),
		fmt(lo), fmt(hi), fmt(exp(median_sorted(xs, n))), fmt(mlo), fmt(mhi), b, nir ? fmt(median_sorted(ir, nir)) : "null"
	if (g == "all") {
		ALL_LO = lo
		ALL_HI = hi
	}
}

function add(g, r, ir) {
	N[g]++
	L[g, N[g]] = r
	IR[g, N[g]] = ir
	if (!(g in SEEN)) {
		SEEN[g] = 1
		ORDER[++NG] = g
	}
}

BEGIN {
	split("6.314 2.920 2.353 2.132 2.015 1.943 1.895 1.860 1.833 1.812 1.796 1.782 1.771 1.761 1.753 " \
	      "1.746 1.740 1.734 1.729 1.725 1.721 1.717 1.714 1.711 1.708 1.706 1.703 1.701 1.699 1.697", T, " ")
	if (target == "") target = 0.97
	MIN_ROUNDS = 10
}

NF >= 4 && $3 > 0 && $4 > 0 {
	r = log($4 / $3)
	ir = NF >= 5 && $5 != "" ? $5 : "null"
	add("all", r, ir)
	tr = $2 ~ /tcp/ ? "tcp" : $2 ~ /unix/ ? "unix" : "other"
	add(tr, r, ir)
	add($2, r, ir)
}

END {
	if (!NG) {
		print "presence.awk: no rounds" > "/dev/stderr"
		exit 1
	}
	for (i = 1; i <= NG; i++) summarize(ORDER[i])
	if (ALL_LO == "null" || N["all"] < MIN_ROUNDS) verdict = "unresolved"
	else if (ALL_LO >= target) verdict = "met"
	else if (ALL_HI < target) verdict = "missed"
	else verdict = "unresolved"
	printf "target %s %s\n", target, verdict
}
