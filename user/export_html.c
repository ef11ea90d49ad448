// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * One self-contained HTML page: the flame graph inline, the statements and
 * sessions tables, and per-second plots (inline SVG polylines) with the
 * timeline's marks. Nothing is loaded from elsewhere.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "export_formats.h"
#include "export_util.h"
#include "flame_svg.h"

#define CH_W 1000.0
#define CH_H 170.0
#define CH_L 60.0	/* left margin: y labels */
#define CH_R 15.0
#define CH_T 22.0	/* top: title and mark labels */
#define CH_B 22.0	/* bottom: x labels */

static const char style[] =
	"body{font-family:sans-serif;margin:18px;color:#222;background:#fff}"
	"h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;font-size:13px}"
	"th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:right;vertical-align:top}"
	"th{background:#f1f1f1}td.l,th.l{text-align:left}"
	"td.l{white-space:nowrap}td.q{text-align:left;font-family:monospace;max-width:640px;word-break:break-all}"
	".meta{color:#555}.warn{color:#a00}svg.chart{display:block;margin:8px 0}"
	"svg.chart text{font-size:11px;font-family:sans-serif;fill:#333}";

static void esc(FILE *out, const char *s)
{
	char *c = text_clean(s, false);

	xml_escape(out, c ? c : "?");
	free(c);
}

static void td_dur(FILE *out, double ns)
{
	char b[32];

	fmt_duration(b, sizeof(b), ns);
	fprintf(out, "<td>%s</td>", b);
}

static void statements(FILE *out, const struct summary *s)
{
	uint32_t n, i;
	struct stmt_stats **v = summary_sorted(s, &n);

	fputs("<h2>Statements</h2>\n<table id=\"statements\"><thead><tr><th class=\"l\">side</th>"
	      "<th class=\"l\">comm</th><th>calls</th><th>errors</th><th>mean</th><th>p50</th>"
	      "<th>p99</th><th>max</th><th>total</th><th class=\"l\">statement</th></tr></thead><tbody>\n", out);
	for (i = 0; v && i < n; i++) {
		const struct stmt_stats *st = v[i];

		fprintf(out, "<tr><td class=\"l\">%s</td><td class=\"l\">", side_name(st->side));
		esc(out, st->comm);
		fprintf(out, "</td><td>%llu</td><td>%llu</td>", (unsigned long long)st->calls,
			(unsigned long long)st->errors);
		td_dur(out, hist_mean(&st->lat));
		td_dur(out, (double)hist_quantile(&st->lat, 0.5));
		td_dur(out, (double)hist_quantile(&st->lat, 0.99));
		td_dur(out, (double)st->lat.max);
		td_dur(out, (double)st->lat.sum);
		fputs("<td class=\"q\">", out);
		esc(out, summary_fp_text(s, st->fp));
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
	free(v);
}

/* Per route: requests, latency, and where the bound requests' time went. */
static void requests(FILE *out, const struct summary *s)
{
	uint32_t i, j;
	int m;

	if (!s->nroutes)
		return;
	fputs("<h2>Requests</h2>\n<table id=\"requests\"><thead><tr><th class=\"l\">comm</th><th>pid</th>"
	      "<th class=\"l\">request</th><th>count</th><th>non-2xx</th><th>mean</th><th>p99</th>"
	      "<th>bound</th><th>db</th><th>statements</th><th>pool wait</th><th>rest</th>"
	      "<th class=\"l\">bound by</th></tr></thead><tbody>\n", out);
	for (i = 0; i < s->nroutes; i++) {
		const struct route_stats *r = &s->routes[i];
		uint64_t bad = 0, bound = 0, best = 0;
		int main_m = BIND_DERIVED_ANCHORED;

		for (j = 0; j < r->nstatus; j++)
			if (r->status[j].code < 200 || r->status[j].code >= 300)
				bad += r->status[j].n;
		for (m = 0; m < BIND_N; m++) {
			bound += r->attributed[m];
			if (r->attributed[m] > best) {
				best = r->attributed[m];
				main_m = m;
			}
		}
		fputs("<tr><td class=\"l\">", out);
		esc(out, r->comm);
		fprintf(out, "</td><td>%u</td><td class=\"l\">", r->tgid);
		esc(out, r->method);
		fputc(' ', out);
		esc(out, r->route);
		fprintf(out, "</td><td>%llu</td><td>%llu</td>", (unsigned long long)r->count,
			(unsigned long long)bad);
		td_dur(out, hist_mean(&r->lat));
		td_dur(out, (double)hist_quantile(&r->lat, 0.99));
		fprintf(out, "<td>%llu</td>", (unsigned long long)bound);
		td_dur(out, hist_mean(&r->db));
		fprintf(out, "<td>%.1f</td>", hist_mean(&r->stmts));
		td_dur(out, hist_mean(&r->pool_wait));
		td_dur(out, hist_mean(&r->app));
		fprintf(out, "<td class=\"l\">%s</td></tr>\n", bound ? bind_method_name(main_m) : "-");
	}
	fputs("</tbody></table>\n", out);
}

static void sessions(FILE *out, const struct summary *s)
{
	uint32_t ng = 0, i;
	struct proc_group *g = proc_groups(s, &ng);
	int k;

	fputs("<h2>Sessions</h2>\n", out);
	if (!ng) {
		fputs("<p>No sessions were seen opening or closing.</p>\n", out);
		free(g);
		return;
	}
	fputs("<table id=\"sessions\"><thead><tr><th class=\"l\">side</th><th class=\"l\">comm</th>"
	      "<th>processes</th><th>opened</th><th>closed</th><th>failed</th><th>set-up p50</th>"
	      "<th>set-up p99</th><th>transactions</th><th>aborted</th><th>idle in txn</th>"
	      "<th>max open</th><th>max busy</th></tr></thead><tbody>\n", out);
	for (i = 0; i < ng; i++) {
		const struct proc_group *p = &g[i];
		uint64_t failed = 0;

		for (k = 0; k < FAIL_N; k++)
			failed += p->failed[k];
		fprintf(out, "<tr><td class=\"l\">%s</td><td class=\"l\">", side_name(p->side));
		esc(out, p->comm);
		fprintf(out, "</td><td>%u</td><td>%llu</td><td>%llu</td><td>%llu</td>", p->nprocs,
			(unsigned long long)p->opened, (unsigned long long)p->closed,
			(unsigned long long)failed);
		td_dur(out, (double)hist_quantile(&p->phase[SESS_READY], 0.5));
		td_dur(out, (double)hist_quantile(&p->phase[SESS_READY], 0.99));
		fprintf(out, "<td>%llu</td><td>%llu</td>", (unsigned long long)p->txns,
			(unsigned long long)p->aborted);
		td_dur(out, (double)p->idle_in_txn.sum);
		fprintf(out, "<td>%u</td><td>%u</td></tr>\n", p->max_open, p->max_busy);
	}
	fputs("</tbody></table>\n", out);
	proc_groups_free(g, ng);
}

struct line {
	const char *name, *color;
	double *v;
};

/* A round number at least v, for the top of an axis. */
static double nice_max(double v)
{
	double p, m;

	if (v <= 0)
		return 1;
	p = pow(10, floor(log10(v)));
	m = v / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void chart(FILE *out, const struct summary *s, const char *title, const struct line *l, int nl)
{
	uint32_t n = s->nseries, i;
	double ymax = 0, pw = CH_W - CH_L - CH_R, ph = CH_H - CH_T - CH_B;
	double xs = n > 1 ? pw / (n - 1) : 0;
	int j;

	for (j = 0; j < nl; j++)
		for (i = 0; i < n; i++)
			if (l[j].v[i] > ymax)
				ymax = l[j].v[i];
	ymax = nice_max(ymax);
	fprintf(out, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\"><title>", CH_W, CH_H, CH_W, CH_H);
	xml_escape(out, title);
	fprintf(out, "</title><rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
		CH_L, CH_T, pw, ph);
	fprintf(out, "<text x=\"%.0f\" y=\"14\" style=\"font-weight:bold\">", CH_L);
	xml_escape(out, title);
	fputs("</text>", out);
	for (j = 0; j < nl; j++) {
		fprintf(out, "<text x=\"%.0f\" y=\"14\" style=\"fill:%s\">&#9632; %s</text>",
			CH_L + 330 + 130 * j, l[j].color, l[j].name);
	}
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%g</text>", CH_L - 4, CH_T + 8, ymax);
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">0</text>", CH_L - 4, CH_T + ph);
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\">0 s</text>", CH_L, CH_H - 6);
	fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%u s</text>", CH_L + pw, CH_H - 6,
		n ? n - 1 : 0);
	for (i = 0; i < s->ntimeline; i++) {
		const struct timeline_event *e = &s->timeline[i];
		double t = e->start_ns > s->start_ns ? (e->start_ns - s->start_ns) / 1e9 : 0;
		double x = CH_L + (n > 1 ? t * xs : 0);

		if (x > CH_L + pw)
			x = CH_L + pw;
		fprintf(out, "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" "
			"stroke=\"#b00\" stroke-dasharray=\"3,2\"><title>", x, x, CH_T, CH_T + ph);
		esc(out, e->what);
		fputs(" ", out);
		esc(out, e->detail);
		fprintf(out, "</title></line><text x=\"%.1f\" y=\"%.0f\" style=\"fill:#b00\">", x + 2, CH_T + 10);
		esc(out, e->what);
		fputs("</text>", out);
	}
	for (j = 0; j < nl; j++) {
		fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", l[j].color);
		for (i = 0; i < n; i++)
			fprintf(out, "%s%.1f,%.1f", i ? " " : "", CH_L + i * xs,
				CH_T + ph - (l[j].v[i] / ymax) * ph);
		fputs("\"/>", out);
	}
	fputs("</svg>\n", out);
}

static void over_time(FILE *out, const struct summary *s)
{
	uint32_t n = s->nseries, i;
	double *v = calloc(n ? 6 * (size_t)n : 1, sizeof(*v));
	double *calls = v, *errs = v + n, *p50 = v + 2 * n, *p99 = v + 3 * n;
	double *open = v + 4 * n, *busy = v + 5 * n;

	fputs("<h2>Over time</h2>\n", out);
	if (!n || !v) {
		fputs("<p>No per-second data in this run.</p>\n", out);
		free(v);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct series_point *p = &s->series[i];

		calls[i] = (double)p->calls;
		errs[i] = (double)p->errors;
		p50[i] = hist_quantile(&p->lat, 0.5) / 1e6;
		p99[i] = hist_quantile(&p->lat, 0.99) / 1e6;
		open[i] = p->open;
		busy[i] = p->busy;
	}
	{
		const struct line l1[] = { { "calls/s", "#1f5fbf", calls } };
		const struct line l2[] = { { "p50", "#2a9d3a", p50 }, { "p99", "#d2691e", p99 } };
		const struct line l3[] = { { "open", "#555", open }, { "busy", "#8a2be2", busy } };
		const struct line l4[] = { { "errors/s", "#c00", errs } };

		chart(out, s, "Statements per second", l1, 1);
		chart(out, s, "Latency (ms)", l2, 2);
		chart(out, s, "Connections", l3, 2);
		chart(out, s, "Errors per second", l4, 1);
	}
	free(v);
}

static void timeline(FILE *out, const struct summary *s)
{
	uint32_t i;

	if (!s->ntimeline)
		return;
	fputs("<h2>Timeline</h2>\n<table id=\"timeline\"><thead><tr><th>start</th><th>end</th>"
	      "<th class=\"l\">what</th><th class=\"l\">detail</th></tr></thead><tbody>\n", out);
	for (i = 0; i < s->ntimeline; i++) {
		const struct timeline_event *e = &s->timeline[i];
		double t0 = e->start_ns > s->start_ns ? (e->start_ns - s->start_ns) / 1e9 : 0;

		fprintf(out, "<tr><td>%.1f s</td>", t0);
		if (e->end_ns)
			fprintf(out, "<td>%.1f s</td>", e->end_ns > s->start_ns ? (e->end_ns - s->start_ns) / 1e9 : 0);
		else
			fputs("<td>(running)</td>", out);
		fputs("<td class=\"l\">", out);
		esc(out, e->what);
		fputs("</td><td class=\"q\">", out);
		esc(out, e->detail);
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
}

int html_file(const char *path, const struct summary *s, const struct flame *f, enum flame_weight w)
{
	struct fnode *root = ftree_new("all");
	const struct tracer_counters *c = &s->ctr;
	char words[1024];
	struct svg_opts o = { .title = "Database time by process, phase and statement", .weight = w,
			      .embedded = true };
	FILE *out;

	if (!root || ftree_add_flame(root, f, 0)) {
		ftree_free(root);
		fprintf(stderr, "dblat: cannot write %s: out of memory\n", path);
		return -1;
	}
	ftree_sort(root);
	o.subtitle = w == FLAME_CALLS ? "width: calls" : "width: wall time";
	out = export_open(path);
	if (!out) {
		ftree_free(root);
		return -1;
	}
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<title>dblat report</title><style>%s</style></head><body>\n", style);
	fputs("<h1>dblat: where the database time goes</h1>\n", out);
	fprintf(out, "<p class=\"meta\">%.1f s traced, %llu events, %llu dropped, %llu connections traced</p>\n",
		s->duration_s, (unsigned long long)c->received, (unsigned long long)c->dropped,
		(unsigned long long)c->conns_adopted);
	if (summary_sampling_words(s, words, sizeof(words)) > 0)
		fprintf(out, "<p class=\"meta\">Traced %s.</p>\n", words);
	if (c->reader_raised)
		fprintf(out, "<p class=\"meta\">dblat's reader fell behind and ran at nice 0 for %.1f s (%llu time(s)).</p>\n",
			c->reader_raised_ns / 1e9, (unsigned long long)c->reader_raised);
	if (c->dropped || c->lost_sync || c->tail_overflow)
		fprintf(out, "<p class=\"warn\">%llu events dropped, %llu framing losses: some statements are missing.</p>\n",
			(unsigned long long)c->dropped, (unsigned long long)c->lost_sync);
	fputs("<h2>Flame graph</h2>\n<div class=\"flame\">\n", out);
	flame_svg(out, root, &o);
	fputs("</div>\n", out);
	ftree_free(root);
	statements(out, s);
	sessions(out, s);
	requests(out, s);
	over_time(out, s);
	timeline(out, s);
	fputs("</body></html>\n", out);
	return export_close(out, path);
}
