// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>
#include "export_formats.h"
#include "export_util.h"

void folded_write(FILE *out, const struct flame *f, enum flame_weight w)
{
	uint32_t i;

	for (i = 0; i < f->n; i++) {
		uint64_t v = flame_weight(&f->v[i], w);

		if (v)
			fprintf(out, "%s %llu\n", f->v[i].key, (unsigned long long)v);
	}
}

int folded_file(const char *path, const struct flame *f, enum flame_weight w)
{
	FILE *out = export_open(path);

	if (!out)
		return -1;
	folded_write(out, f, w);
	return export_close(out, path);
}

static void diff_line(FILE *out, const char *key, uint64_t a, uint64_t b)
{
	if (a || b)
		fprintf(out, "%s %llu %llu\n", key, (unsigned long long)a, (unsigned long long)b);
}

/* Both are sorted by key: walk them side by side. */
void folded_diff_write(FILE *out, const struct flame *a, const struct flame *b, enum flame_weight w)
{
	uint32_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].key, b->v[j].key);

		if (c < 0) {
			diff_line(out, a->v[i].key, flame_weight(&a->v[i], w), 0);
			i++;
		} else if (c > 0) {
			diff_line(out, b->v[j].key, 0, flame_weight(&b->v[j], w));
			j++;
		} else {
			diff_line(out, a->v[i].key, flame_weight(&a->v[i], w), flame_weight(&b->v[j], w));
			i++;
			j++;
		}
	}
}

int folded_diff_file(const char *path, const struct flame *a, const struct flame *b, enum flame_weight w)
{
	FILE *out = export_open(path);

	if (!out)
		return -1;
	folded_diff_write(out, a, b, w);
	return export_close(out, path);
}
