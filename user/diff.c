// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `dblat diff A B`: two recordings replayed as `dblat report` does, then
 * compared statement by statement (matched on side, process name and
 * fingerprint) and phase by phase, as text and optionally as a folded
 * diff, a differential flame graph and JSON.
 */
#include <argp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "collector.h"
#include "exports.h"
#include "export_formats.h"
#include "export_util.h"
#include "flame_svg.h"
#include "recording.h"
#include "report.h"

enum { OPT_FOLDED = 3000, OPT_SVG, OPT_JSON, OPT_WEIGHT, OPT_WIDTH };

static struct {
	const char *path[2];
	const char *folded, *svg, *json;
	enum flame_weight weight;
	int width;
} dx = { .width = 60 };

static const struct argp_option diff_opts[] = {
	{ "folded", OPT_FOLDED, "FILE", 0, "Write the folded diff: \"stack weightA weightB\" per line", 0 },
	{ "svg", OPT_SVG, "FILE", 0, "Write a differential flame graph (widths from B; red slower, blue faster)", 0 },
	{ "json", OPT_JSON, "FILE", 0, "Write the changes as JSON", 0 },
	{ "flame-weight", OPT_WEIGHT, "WHAT", 0, "Flame weights: wall (microseconds, default) or calls", 0 },
	{ "width", OPT_WIDTH, "N", 0, "Characters of statement text shown (default 60)", 0 },
	{},
};

static error_t parse_diff(int key, char *arg, struct argp_state *st)
{
	int w;
	char *end;
	long n;

	switch (key) {
	case OPT_FOLDED:
		dx.folded = arg;
		break;
	case OPT_SVG:
		dx.svg = arg;
		break;
	case OPT_JSON:
		dx.json = arg;
		break;
	case OPT_WEIGHT:
		w = flame_weight_parse(arg);
		if (w < 0)
			argp_error(st, "--flame-weight: expected wall or calls, not '%s'", arg);
		dx.weight = (enum flame_weight)w;
		break;
	case OPT_WIDTH:
		n = strtol(arg, &end, 10);
		if (*end || n < 10 || n > 100000)
			argp_error(st, "invalid width: %s", arg);
		dx.width = (int)n;
		break;
	case ARGP_KEY_ARG:
		if (st->arg_num >= 2)
			argp_error(st, "unexpected argument: %s", arg);
		dx.path[st->arg_num] = arg;
		break;
	case ARGP_KEY_END:
		if (st->arg_num != 2)
			argp_error(st, "diff needs two recordings, A and B");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int feed(void *ctx, void *data, size_t size)
{
	collector_handle(ctx, data, size);
	return 0;
}

/* The summary of a recording, as `dblat report` builds it. */
static struct summary *load(const char *path)
{
	struct summary *s = summary_new();
	struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
	int err;

	if (!c) {
		fprintf(stderr, "dblat: out of memory\n");
		summary_free(s);
		return NULL;
	}
	err = recording_replay(path, feed, c, s);
	collector_free(c);
	if (err) {
		summary_free(s);
		return NULL;
	}
	return s;
}

/* One statement in A, B or both. */
struct row {
	uint8_t side;
	const char *comm, *text;
	const struct stmt_stats *st[2];
	unsigned cls;
};

static int row_cmp(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	int c;

	if (a->side != b->side)
		return a->side - b->side;
	c = strcmp(a->comm, b->comm);
	return c ? c : strcmp(a->text, b->text);
}

static uint64_t total_ns(const struct row *r, int i)
{
	return r->st[i] ? r->st[i]->lat.sum : 0;
}

static double change(const struct row *r)
{
	return fabs((double)total_ns(r, 1) - (double)total_ns(r, 0));
}

static int by_change(const void *x, const void *y)
{
	double a = change(x), b = change(y);

	return a < b ? 1 : a > b ? -1 : row_cmp(x, y);
}

/* Statements of A and B, matched; *n rows. */
static struct row *match(struct summary *const s[2], uint32_t *n)
{
	uint32_t cap = s[0]->nstmts + s[1]->nstmts, i, j, o = 0;
	struct row *r = calloc(cap ? cap : 1, sizeof(*r));
	int k;

	*n = 0;
	if (!r)
		return NULL;
	for (k = 0; k < 2; k++)
		for (i = 0; i < s[k]->nstmts; i++) {
			const struct stmt_stats *st = s[k]->stmts[i];

			r[o].side = st->side;
			r[o].comm = st->comm;
			r[o].text = summary_fp_text(s[k], st->fp);
			r[o].cls = stmt_class_of(s[k], st);
			r[o].st[k] = st;
			o++;
		}
	qsort(r, o, sizeof(*r), row_cmp);
	for (i = 0, j = 0; i < o; i++) {
		struct row *prev = j ? &r[j - 1] : NULL;

		if (prev && !row_cmp(prev, &r[i]) && !(prev->st[0] && r[i].st[0]) && !(prev->st[1] && r[i].st[1])) {
			for (k = 0; k < 2; k++)
				if (r[i].st[k])
					prev->st[k] = r[i].st[k];
		} else {
			r[j++] = r[i];
		}
	}
	qsort(r, j, sizeof(*r), by_change);
	*n = j;
	return r;
}

static void dur(char *b, size_t n, const struct stmt_stats *st, int what)
{
	double v;

	if (!st || !st->calls) {
		snprintf(b, n, "-");
		return;
	}
	v = what == 0 ? hist_mean(&st->lat) : what == 1 ? (double)hist_quantile(&st->lat, 0.5) :
	    what == 2 ? (double)hist_quantile(&st->lat, 0.99) : (double)st->lat.sum;
	fmt_duration(b, n, v);
}

static void ratio(char *b, size_t n, const struct row *r)
{
	if (!r->st[0] || !r->st[0]->calls || !r->st[1] || !r->st[1]->calls)
		snprintf(b, n, r->st[1] && r->st[1]->calls ? "new" : "gone");
	else
		snprintf(b, n, "%.2fx", hist_mean(&r->st[1]->lat) / fmax(hist_mean(&r->st[0]->lat), 1));
}

static void print_statements(FILE *out, const struct row *r, uint32_t n)
{
	uint32_t i;
	int k;

	fprintf(out, "\nstatements, by change in total time (MEAN B/A: ratio of mean latencies):\n");
	fprintf(out, "%-6s %-15s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s  %s\n", "SIDE", "COMM",
		"CALLS A", "CALLS B", "MEAN A", "MEAN B", "P50 A", "P50 B", "P99 A", "P99 B", "TOTAL A",
		"TOTAL B", "MEAN B/A", "QUERY");
	for (i = 0; i < n; i++) {
		char d[8][16], rt[16];
		const char *q = r[i].text;

		for (k = 0; k < 4; k++) {
			dur(d[2 * k], sizeof(d[0]), r[i].st[0], k);
			dur(d[2 * k + 1], sizeof(d[0]), r[i].st[1], k);
		}
		ratio(rt, sizeof(rt), &r[i]);
		fprintf(out, "%-6s %-15s %9llu %9llu %9s %9s %9s %9s %9s %9s %9s %9s %9s  %.*s%s\n",
			side_name(r[i].side), r[i].comm,
			(unsigned long long)(r[i].st[0] ? r[i].st[0]->calls : 0),
			(unsigned long long)(r[i].st[1] ? r[i].st[1]->calls : 0),
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], rt, dx.width, q,
			(int)strlen(q) > dx.width ? "..." : "");
	}
}

/* Per "side:comm;phase": the flame stacks added up to their first two frames. */
struct phase_row {
	char *key;
	uint64_t us[2], calls[2];
};

static struct phase_row *phases(const struct flame *f, uint32_t *n)
{
	struct phase_row *p = NULL;
	uint32_t np = 0, cap = 0, i, j;
	int k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < f[k].n; i++) {
			const char *key = f[k].v[i].key, *semi = strchr(key, ';');
			const char *semi2 = semi ? strchr(semi + 1, ';') : NULL;
			size_t len = semi2 ? (size_t)(semi2 - key) : strlen(key);

			for (j = 0; j < np; j++)
				if (strlen(p[j].key) == len && !strncmp(p[j].key, key, len))
					break;
			if (j == np) {
				if (np == cap) {
					struct phase_row *nr = realloc(p, (cap = cap ? 2 * cap : 32) * sizeof(*nr));

					if (!nr)
						goto oom;
					p = nr;
				}
				memset(&p[np], 0, sizeof(*p));
				p[np].key = strndup(key, len);
				if (!p[np].key)
					goto oom;
				np++;
			}
			p[j].us[k] += f[k].v[i].us;
			p[j].calls[k] += f[k].v[i].calls;
		}
	*n = np;
	return p;
oom:
	for (j = 0; j < np; j++)
		free(p[j].key);
	free(p);
	*n = 0;
	return NULL;
}

static void print_phases(FILE *out, const struct phase_row *p, uint32_t n)
{
	uint32_t i;

	fprintf(out, "\nphases:\n%-24s %-22s %10s %10s %10s %10s %9s\n", "PROCESS", "PHASE", "TOTAL A",
		"TOTAL B", "CALLS A", "CALLS B", "CHANGE");
	for (i = 0; i < n; i++) {
		const char *semi = strchr(p[i].key, ';');
		char a[16], b[16], ch[16];

		fmt_duration(a, sizeof(a), p[i].us[0] * 1000.0);
		fmt_duration(b, sizeof(b), p[i].us[1] * 1000.0);
		if (p[i].us[0])
			snprintf(ch, sizeof(ch), "%+.1f%%", 100.0 * ((double)p[i].us[1] / (double)p[i].us[0] - 1));
		else
			snprintf(ch, sizeof(ch), "new");
		fprintf(out, "%-24.*s %-22s %10s %10s %10llu %10llu %9s\n", (int)(semi ? semi - p[i].key : (long)strlen(p[i].key)),
			p[i].key, semi ? semi + 1 : "", a, b, (unsigned long long)p[i].calls[0],
			(unsigned long long)p[i].calls[1], ch);
	}
}

static void json_side(FILE *out, const struct stmt_stats *st)
{
	if (!st) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"calls\":%llu,\"errors\":%llu,\"mean_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"total_us\":%.3f}",
		(unsigned long long)st->calls, (unsigned long long)st->errors, hist_mean(&st->lat) / 1e3,
		hist_quantile(&st->lat, 0.5) / 1e3, hist_quantile(&st->lat, 0.99) / 1e3, st->lat.sum / 1e3);
}

static int write_json(const char *path, struct summary *const s[2], const struct row *r, uint32_t n,
		      const struct phase_row *p, uint32_t np)
{
	FILE *out = export_open(path);
	uint32_t i;
	int k;

	if (!out)
		return -1;
	fputs("{\"schema\":\"dblat-diff/1\"", out);
	for (k = 0; k < 2; k++) {
		fprintf(out, ",\"%s\":{\"path\":", k ? "b" : "a");
		json_str(out, dx.path[k]);
		fprintf(out, ",\"duration_s\":%.3f}", s[k]->duration_s);
	}
	fputs(",\n\"statements\":[", out);
	for (i = 0; i < n; i++) {
		fprintf(out, "%s\n {\"side\":\"%s\",\"comm\":", i ? "," : "", side_name(r[i].side));
		json_str(out, r[i].comm);
		fputs(",\"query\":", out);
		json_str(out, r[i].text);
		fprintf(out, ",\"phase\":\"%s\",\"a\":", stmt_phase_name(r[i].cls));
		json_side(out, r[i].st[0]);
		fputs(",\"b\":", out);
		json_side(out, r[i].st[1]);
		fprintf(out, ",\"total_change_us\":%.3f,\"mean_ratio\":",
			((double)total_ns(&r[i], 1) - (double)total_ns(&r[i], 0)) / 1e3);
		if (r[i].st[0] && r[i].st[0]->calls && r[i].st[1] && r[i].st[1]->calls)
			fprintf(out, "%.6f}", hist_mean(&r[i].st[1]->lat) / fmax(hist_mean(&r[i].st[0]->lat), 1));
		else
			fputs("null}", out);
	}
	fputs("\n],\n\"phases\":[", out);
	for (i = 0; i < np; i++) {
		const char *semi = strchr(p[i].key, ';');
		char *root = strndup(p[i].key, semi ? (size_t)(semi - p[i].key) : strlen(p[i].key));

		fputs(i ? ",\n {\"process\":" : "\n {\"process\":", out);
		json_str(out, root ? root : "");
		free(root);
		fputs(",\"phase\":", out);
		json_str(out, semi ? semi + 1 : "");
		fprintf(out, ",\"a\":{\"total_us\":%llu,\"calls\":%llu},\"b\":{\"total_us\":%llu,\"calls\":%llu}}",
			(unsigned long long)p[i].us[0], (unsigned long long)p[i].calls[0],
			(unsigned long long)p[i].us[1], (unsigned long long)p[i].calls[1]);
	}
	fputs("\n]}\n", out);
	return export_close(out, path);
}

static int write_svg(const char *path, const struct flame f[2])
{
	struct svg_opts o = { .title = "dblat diff: B against A", .weight = dx.weight, .diff = true };
	char sub[512];

	snprintf(sub, sizeof(sub), "A %s, B %s; width: B's %s; red slower, blue faster", dx.path[0], dx.path[1],
		 dx.weight == FLAME_CALLS ? "calls" : "wall time");
	o.subtitle = sub;
	return flame_svg_write(path, f, 2, &o);
}

int diff_main(int argc, char **argv)
{
	static const char doc[] = "Compare two recordings (dblat record -o FILE): per statement and per phase."
				  "\vStatements are matched by side, process name and fingerprint.";
	static const struct argp argp = { diff_opts, parse_diff, "A B", doc, NULL, NULL, NULL };
	struct summary *s[2] = {};
	struct flame f[2] = {};
	struct row *r = NULL;
	struct phase_row *p = NULL;
	uint32_t n = 0, np = 0, i;
	static char name[] = "dblat diff";
	int err = 1, k;

	argv[0] = name;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	for (k = 0; k < 2; k++) {
		s[k] = load(dx.path[k]);
		if (!s[k])
			goto out;
		if (flame_from_summary(&f[k], s[k])) {
			fprintf(stderr, "dblat: out of memory\n");
			goto out;
		}
	}
	r = match(s, &n);
	p = phases(f, &np);
	if ((!r && s[0]->nstmts + s[1]->nstmts) || (!p && (f[0].n || f[1].n))) {
		fprintf(stderr, "dblat: out of memory\n");
		goto out;
	}
	printf("dblat diff: A = %s (%.1f s, %u statements), B = %s (%.1f s, %u statements)\n", dx.path[0],
	       s[0]->duration_s, s[0]->nstmts, dx.path[1], s[1]->duration_s, s[1]->nstmts);
	print_statements(stdout, r, n);
	print_phases(stdout, p, np);
	fflush(stdout);
	err = 0;
	if (dx.folded && folded_diff_file(dx.folded, &f[0], &f[1], dx.weight))
		err = 1;
	if (dx.svg && write_svg(dx.svg, f))
		err = 1;
	if (dx.json && write_json(dx.json, s, r, n, p, np))
		err = 1;
out:
	for (i = 0; i < np; i++)
		free(p[i].key);
	free(p);
	free(r);
	for (k = 0; k < 2; k++) {
		flame_free(&f[k]);
		summary_free(s[k]);
	}
	return err;
}
