// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "cpulist.h"

int cpulist_parse(const char *s, bool *set, int n)
{
	int marked = 0;

	if (!s || !set || n <= 0)
		return -1;
	memset(set, 0, (size_t)n * sizeof(*set));
	while (*s && *s != '\n') {
		char *end;
		long lo, hi;

		if (!isdigit((unsigned char)*s))
			return -1;
		lo = strtol(s, &end, 10);
		hi = lo;
		s = end;
		if (*s == '-') {
			if (!isdigit((unsigned char)s[1]))
				return -1;
			hi = strtol(s + 1, &end, 10);
			s = end;
		}
		if (hi < lo || hi > 1 << 20)
			return -1;
		for (long c = lo; c <= hi && c < n; c++)
			if (!set[c]) {
				set[c] = true;
				marked++;
			}
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -1;
	}
	return marked;
}
