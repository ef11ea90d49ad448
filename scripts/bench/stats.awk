# Helpers for the bench's awk programs, loaded before them with a second -f.

# Sorts a[1..n] in place, ascending (mawk has no asort: a shell sort).
function sort_num(a, n,    gap, i, j, t) {
	for (gap = int(n / 2); gap > 0; gap = int(gap / 2))
		for (i = gap + 1; i <= n; i++) {
			t = a[i]
			for (j = i; j > gap && a[j - gap] > t; j -= gap)
				a[j] = a[j - gap]
			a[j] = t
		}
}

# The median of a[1..n], sorted.
function median_sorted(a, n) {
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
