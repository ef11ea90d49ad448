# The pooling of scripts/bench-pool.sh (after stats.awk). Input, one clean
# pair a line: RUN WORKLOAD ln(traced/untraced). -v reps, nfiles, mode.
function add(w, run, x) {
	if (!(w in seen)) { seen[w] = 1; if (w != ALL) order[++nw] = w }
	if (!((w, run) in has)) { has[w, run] = 1; runs[w, ++nr[w]] = run }
	s[w, run] += x; n[w, run]++; S[w] += x; N[w]++; SS[w] += x * x
}
BEGIN { ALL = "sel-* together" }
{ add($2, $1, $3); if ($2 ~ /^sel-/) add(ALL, $1, $3); if (!($1 in used)) { used[$1] = 1; nused++ } }
# The geometric mean of the pairs of the runs drawn (with repeats).
function draw(w,   k, r, sx, nx) {
	sx = 0; nx = 0
	for (k = 1; k <= nr[w]; k++) { r = runs[w, 1 + int(rand() * nr[w])]; sx += s[w, r]; nx += n[w, r] }
	return exp(sx / nx)
}
END {
	srand(1)
	printf "throughput pairs of mode %s pooled over %d run%s of %d given (geometric mean of traced/untraced;\n", mode, nused, nused == 1 ? "" : "s", nfiles
	printf "90%% interval from resampling whole runs)\n\n"
	printf "%-18s %5s %6s %8s %17s %9s\n", "workload", "runs", "pairs", "ratio", "90% interval", "sd/pair"
	if (ALL in seen) order[++nw] = ALL
	for (i = 1; i <= nw; i++) {
		w = order[i]
		for (b = 1; b <= reps; b++) v[b] = draw(w)
		sort_num(v, reps)
		m = S[w] / N[w]; sd = sqrt((SS[w] / N[w] - m * m) > 0 ? SS[w] / N[w] - m * m : 0)
		printf "%-18s %5d %6d %8.3f %8.3f..%-7.3f %9.3f\n", w, nr[w], N[w], exp(m),
			v[int(reps * 0.05) + 1], v[int(reps * 0.95)], sd
		delete v
	}
}
