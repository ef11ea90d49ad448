// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The export options and their dispatch: files written once the summary is
 * final, and the live /metrics endpoint.
 */
#include <stdbool.h>
#include <stdio.h>
#include "exports.h"
#include "export_formats.h"
#include "flame.h"
#include "flame_svg.h"
#include "metrics_http.h"

enum {
	OPT_FOLDED = 2000, OPT_SVG, OPT_PPROF, OPT_PROM, OPT_HTML, OPT_LISTEN, OPT_WEIGHT,
};

static struct {
	const char *folded, *svg, *pprof, *prom, *html, *listen;
	enum flame_weight weight;
	bool started;		/* exports_start ran: a live run */
} ex;

static const struct argp_option export_opts[] = {
	{ "folded", OPT_FOLDED, "FILE", 0, "Write folded stacks (process;phase;statement;stage weight) for flame graph tools", 0 },
	{ "svg", OPT_SVG, "FILE", 0, "Write an interactive flame graph (SVG)", 0 },
	{ "pprof", OPT_PPROF, "FILE", 0, "Write a gzipped pprof profile (calls/count, wall/microseconds)", 0 },
	{ "prom", OPT_PROM, "FILE", 0, "Write Prometheus text-format metrics", 0 },
	{ "html", OPT_HTML, "FILE", 0, "Write a self-contained HTML report", 0 },
	{ "listen", OPT_LISTEN, "ADDR", 0, "Serve GET /metrics on ADDR (HOST:PORT, default host 127.0.0.1) while tracing", 0 },
	{ "flame-weight", OPT_WEIGHT, "WHAT", 0, "Flame weights: wall (microseconds, default) or calls", 0 },
	{},
};

static error_t parse_export(int key, char *arg, struct argp_state *st)
{
	int w;

	switch (key) {
	case OPT_FOLDED:
		ex.folded = arg;
		break;
	case OPT_SVG:
		ex.svg = arg;
		break;
	case OPT_PPROF:
		ex.pprof = arg;
		break;
	case OPT_PROM:
		ex.prom = arg;
		break;
	case OPT_HTML:
		ex.html = arg;
		break;
	case OPT_LISTEN:
		ex.listen = arg;
		break;
	case OPT_WEIGHT:
		w = flame_weight_parse(arg);
		if (w < 0)
			argp_error(st, "--flame-weight: expected wall or calls, not '%s'", arg);
		ex.weight = (enum flame_weight)w;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp exports_argp = { export_opts, parse_export, NULL, NULL, NULL, NULL, NULL };

int exports_write(const struct summary *s)
{
	struct flame f = {};
	char sub[128];
	struct svg_opts o = { .title = "dblat: database time by process, phase and statement",
			      .subtitle = sub, .weight = ex.weight };
	int err = 0;

	if (ex.listen && !ex.started)
		fprintf(stderr, "dblat: note: --listen serves only while tracing; use --prom FILE here\n");
	if (ex.prom && prom_file(ex.prom, s))
		err = -1;
	if (!ex.folded && !ex.svg && !ex.pprof && !ex.html)
		return err;
	if (flame_from_summary(&f, s)) {
		fprintf(stderr, "dblat: out of memory building the flame stacks\n");
		return -1;
	}
	snprintf(sub, sizeof(sub), "%.1f s traced; width: %s", s->duration_s,
		 ex.weight == FLAME_CALLS ? "calls" : "wall time");
	if (ex.folded && folded_file(ex.folded, &f, ex.weight))
		err = -1;
	if (ex.svg && flame_svg_file(ex.svg, &f, &o))
		err = -1;
	if (ex.pprof && pprof_file(ex.pprof, &f, s->duration_s))
		err = -1;
	if (ex.html && html_file(ex.html, s, &f, ex.weight))
		err = -1;
	flame_free(&f);
	return err;
}

int exports_start(void)
{
	ex.started = true;
	return ex.listen ? metrics_listen(ex.listen) : 0;
}

void exports_poll(const struct summary *s)
{
	metrics_serve(s);
}

void exports_stop(void)
{
	metrics_close();
}
