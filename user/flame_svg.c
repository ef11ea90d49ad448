// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <math.h>
#include <string.h>
#include "flame_svg.h"
#include "export_util.h"

#define SVG_W 1200.0
#define X0 10.0
#define FW (SVG_W - 2 * X0)	/* width of the frames' area */
#define FH 16			/* frame row height */
#define TOP 68			/* frames start below the title and controls */
#define CHAR_W 7.2		/* monospace 12px, as the script assumes */
#define MIN_FRAC 1e-5		/* frames narrower than this share are left out */

enum kind { K_ROOT, K_SIDE, K_PHASE, K_STMT, K_SETUP, K_STAGE };

struct ctx {
	FILE *out;
	const struct svg_opts *o;
	int wi;			/* which values give widths */
	uint32_t depth;		/* rows */
	uint64_t total;		/* root weight [wi] */
	uint64_t root_us[2], root_calls[2];
};

static uint64_t weight(const struct ctx *c, const struct fnode *n, int which)
{
	return c->o->weight == FLAME_CALLS ? n->calls[which] : n->us[which];
}

static double hash01(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h % 1000) / 1000.0;
}

static void fill_single(char *buf, size_t n, enum kind k, const char *name)
{
	double v = hash01(name);

	switch (k) {
	case K_ROOT:
		snprintf(buf, n, "rgb(190,190,190)");
		break;
	case K_SIDE:
		if (!strncmp(name, "server:", 7))
			snprintf(buf, n, "rgb(%d,%d,220)", 160 + (int)(30 * v), 140 + (int)(30 * v));
		else
			snprintf(buf, n, "rgb(%d,%d,230)", 110 + (int)(30 * v), 170 + (int)(30 * v));
		break;
	case K_PHASE:
		snprintf(buf, n, "rgb(240,%d,60)", 160 + (int)(40 * v));
		break;
	case K_SETUP:
		snprintf(buf, n, "rgb(%d,%d,90)", 200 + (int)(40 * v), 200 + (int)(40 * v));
		break;
	case K_STAGE:
		snprintf(buf, n, "rgb(%d,%d,%d)", 90 + (int)(50 * v), 190 + (int)(40 * v), 110 + (int)(40 * v));
		break;
	default:
		snprintf(buf, n, "rgb(%d,%d,%d)", 225 + (int)(30 * v), 90 + (int)(90 * v), 50 + (int)(30 * v));
		break;
	}
}

static void fill_diff(char *buf, size_t n, uint64_t a, uint64_t b)
{
	double m = (double)(a > b ? a : b), d = m > 0 ? ((double)b - (double)a) / m : 0;
	int shade = (int)lround(235 - 190 * fabs(d));

	if (d > 0)
		snprintf(buf, n, "rgb(255,%d,%d)", shade, shade);
	else if (d < 0)
		snprintf(buf, n, "rgb(%d,%d,255)", shade, shade);
	else
		snprintf(buf, n, "rgb(235,235,235)");
}

/* At most max characters of s (UTF-8), with ".." when it is cut. */
static void label(FILE *out, const char *s, int max)
{
	int chars = 0;
	const char *p;
	size_t cut;

	if (max < 3)
		return;
	for (p = s; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	if (chars <= max) {
		xml_escape(out, s);
		return;
	}
	chars = 0;
	for (p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && ++chars > max - 2)
			break;
	}
	cut = (size_t)(p - s);
	for (p = s; (size_t)(p - s) < cut; p++) {
		char one[2] = { *p, 0 };

		xml_escape(out, one);
	}
	fputs("..", out);
}

static double pct(uint64_t v, uint64_t tot)
{
	return tot ? 100.0 * (double)v / (double)tot : 0.0;
}

static void tooltip(const struct ctx *c, const struct fnode *n)
{
	FILE *out = c->out;
	char t0[32], t1[32];
	int i;

	xml_escape(out, n->name);
	if (!c->o->diff) {
		fmt_duration(t0, sizeof(t0), n->us[0] * 1000.0);
		fprintf(out, "\ntime: %s (%.2f%%)\ncalls: %llu (%.2f%%)", t0, pct(n->us[0], c->root_us[0]),
			(unsigned long long)n->calls[0], pct(n->calls[0], c->root_calls[0]));
		return;
	}
	for (i = 0; i < 2; i++) {
		fmt_duration(t0, sizeof(t0), n->us[i] * 1000.0);
		fprintf(out, "\n%s: %s (%.2f%%), %llu calls", i ? "B" : "A", t0,
			pct(n->us[i], c->root_us[i]), (unsigned long long)n->calls[i]);
	}
	if (!weight(c, n, 0))
		fputs("\nchange: new in B", out);
	else if (!weight(c, n, 1))
		fputs("\nchange: gone in B", out);
	else {
		fmt_duration(t1, sizeof(t1), ((double)n->us[1] - (double)n->us[0]) * 1000.0);
		fprintf(out, "\nchange: %+.1f%% (%s%s)",
			100.0 * ((double)weight(c, n, 1) / (double)weight(c, n, 0) - 1),
			n->us[1] >= n->us[0] ? "+" : "", t1);
	}
}

static void frame(const struct ctx *c, const struct fnode *n, uint32_t d, double x, enum kind k)
{
	FILE *out = c->out;
	double w = d ? (c->total ? (double)weight(c, n, c->wi) / (double)c->total : 0) : 1;
	double px = w * FW, y = TOP + (double)(c->depth - 1 - d) * FH;
	char fill[64];
	uint32_t i;

	if (d && w < MIN_FRAC)
		return;
	if (c->o->diff)
		fill_diff(fill, sizeof(fill), weight(c, n, 0), weight(c, n, 1));
	else
		fill_single(fill, sizeof(fill), k, n->name);
	fprintf(out, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%u\" data-n=\"", x, w, d);
	xml_escape(out, n->name);
	fputs("\"><title>", out);
	tooltip(c, n);
	fprintf(out, "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"%s\"/>",
		X0 + x * FW, y, px, FH - 1, fill);
	fprintf(out, "<text x=\"%.2f\" y=\"%.1f\">", X0 + x * FW + 3, y + FH - 4.5);
	label(out, n->name, (int)floor((px - 6) / CHAR_W));
	fputs("</text></g>\n", out);
	if (!c->total)
		return;
	for (i = 0; i < n->nkids; i++) {
		const struct fnode *kid = n->kids[i];
		enum kind kk = k == K_ROOT ? K_SIDE : k == K_SIDE ? K_PHASE : k == K_PHASE ?
			       (strcmp(n->name, FLAME_SESSION_SETUP) ? K_STMT : K_SETUP) : K_STAGE;

		frame(c, kid, d + 1, x, kk);
		x += (double)weight(c, kid, c->wi) / (double)c->total;
	}
}

void flame_svg(FILE *out, const struct fnode *root, const struct svg_opts *o)
{
	struct ctx c = { .out = out, .o = o, .wi = o->diff ? 1 : 0 };
	char hs[48] = "";
	double h;

	c.depth = ftree_depth(root);
	c.total = weight(&c, root, c.wi);
	memcpy(c.root_us, root->us, sizeof(c.root_us));
	memcpy(c.root_calls, root->calls, sizeof(c.root_calls));
	h = TOP + (double)c.depth * FH + 30;
	if (!o->embedded)
		snprintf(hs, sizeof(hs), " height=\"%.0f\"", h);
	if (!o->embedded)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
	fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" id=\"dblat-flame\" "
		"width=\"%s\"%s viewBox=\"0 0 %.0f %.0f\" data-x0=\"%.1f\" data-fw=\"%.1f\">\n",
		o->embedded ? "100%" : "1200", hs, SVG_W, h, X0, FW);
	if (!o->embedded)
		fprintf(out, "<desc>dblat flame graph</desc>\n");
	fputs("<style>#dblat-flame text{font-family:monospace;font-size:12px;fill:#000}"
	      "#dblat-flame g.f{cursor:pointer}#dblat-flame g.f:hover rect{stroke:#000;stroke-width:0.6}"
	      "#dblat-flame .reset{cursor:pointer;fill:#225}#dblat-flame .title{font-size:17px;font-family:sans-serif}"
	      "#dblat-flame .sub{fill:#555}</style>\n", out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fdfdf8\"/>\n", SVG_W, h);
	fprintf(out, "<text class=\"title\" x=\"%.0f\" y=\"22\" text-anchor=\"middle\">", SVG_W / 2);
	xml_escape(out, o->title ? o->title : "dblat");
	fputs("</text>\n", out);
	if (o->subtitle) {
		fprintf(out, "<text class=\"sub\" x=\"%.0f\" y=\"40\" text-anchor=\"middle\">", SVG_W / 2);
		xml_escape(out, o->subtitle);
		fputs("</text>\n", out);
	}
	fprintf(out, "<text class=\"reset\" x=\"%.0f\" y=\"58\" style=\"opacity:0.4\">Reset zoom</text>\n", X0);
	fprintf(out, "<text class=\"matched\" x=\"%.0f\" y=\"58\" text-anchor=\"end\"></text>\n", SVG_W - X0);
	fprintf(out, "<foreignObject x=\"%.0f\" y=\"4\" width=\"250\" height=\"28\">"
		"<input xmlns=\"http://www.w3.org/1999/xhtml\" type=\"search\" placeholder=\"search (regex)\" "
		"style=\"width:230px;font:12px monospace\"/></foreignObject>\n", SVG_W - X0 - 250);
	frame(&c, root, 0, 0, K_ROOT);
	fprintf(out, "<text class=\"details\" x=\"%.0f\" y=\"%.0f\"> </text>\n", X0, h - 10);
	fputs("<script><![CDATA[\n", out);
	fputs(flame_svg_script, out);
	fputs("]]></script>\n</svg>\n", out);
}

int flame_svg_write(const char *path, const struct flame *f, int n, const struct svg_opts *o)
{
	struct fnode *root = ftree_new("all");
	FILE *out;
	int i, err = !root;

	for (i = 0; !err && i < n; i++)
		err = ftree_add_flame(root, &f[i], i);
	if (err) {
		ftree_free(root);
		fprintf(stderr, "dblat: cannot write %s: out of memory\n", path);
		return -1;
	}
	ftree_sort(root);
	out = export_open(path);
	if (!out) {
		ftree_free(root);
		return -1;
	}
	flame_svg(out, root, o);
	ftree_free(root);
	return export_close(out, path);
}

int flame_svg_file(const char *path, const struct flame *f, const struct svg_opts *o)
{
	return flame_svg_write(path, f, 1, o);
}
