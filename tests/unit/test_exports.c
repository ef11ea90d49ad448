// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Export formats on a summary built by hand with known numbers: folded
 * stacks, the pprof protobuf (decoded here, after gunzip), Prometheus text
 * (checked line by line), the flame-graph SVG, the HTML page, the folded
 * diff and the /metrics HTTP answers.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "export_formats.h"
#include "export_util.h"
#include "flame.h"
#include "flame_svg.h"
#include "metrics_http.h"
#include "report.h"
#include "summary.h"

#define US 1000ull	/* ns */

static const char *Q_SEL = "SELECT abalance FROM accounts WHERE aid = $1";
static const char *Q_ODD = "SELECT \"a;b\" FROM t\nWHERE x = '\\' AND y = $1";

static void add(struct summary *s, uint32_t fp, uint8_t side, const char *comm, uint64_t lat_us, int n, int errors)
{
	int i;

	for (i = 0; i < n; i++) {
		struct call c = { .fp = fp, .side = side, .comm = comm, .pid = 100 + side, .lat_ns = lat_us * US,
				  .rows = 1, .error = i < errors, .sqlstate = i < errors ? "40001" : NULL };

		summary_add_call(s, &c);
	}
}

/*
 * client:pgbench: select 10 x 1000 us (2 errors) with stages queue 10 x 200 us
 *                 and reply 10 x 100 us; BEGIN 5 x 50 us; odd text 3 x 10 us
 * server:postgres: select 10 x 600 us, stages over the total (scaled):
 *                 parse 10 x 400 us, execute 10 x 500 us
 * procs: client pgbench (2 processes): connect 4 x 100 us, auth 4 x 300 us,
 *        ready 4 x 1000 us (not drawn), idle in transaction 2 x 250 us
 */
static struct summary *sample_summary(void)
{
	struct summary *s = summary_new();
	uint32_t sel = summary_intern(s, Q_SEL, strlen(Q_SEL));
	uint32_t begin = summary_intern(s, "BEGIN", 5);
	uint32_t odd = summary_intern(s, Q_ODD, strlen(Q_ODD));
	struct stmt_stats *st;
	struct proc_stats *p;
	int i;

	add(s, sel, SIDE_CLIENT, "pgbench", 1000, 10, 2);
	add(s, begin, SIDE_CLIENT, "pgbench", 50, 5, 0);
	add(s, odd, SIDE_CLIENT, "pgbench", 10, 3, 0);
	add(s, sel, SIDE_SERVER, "postgres", 600, 10, 0);
	st = summary_stmt(s, sel, SIDE_CLIENT, "pgbench");
	hist_add_n(&st->stage[STAGE_QUEUE], 200 * US, 10);
	hist_add_n(&st->stage[STAGE_REPLY], 100 * US, 10);
	st = summary_stmt(s, sel, SIDE_SERVER, "postgres");
	hist_add_n(&st->stage[STAGE_PARSE], 400 * US, 10);
	hist_add_n(&st->stage[STAGE_EXECUTE], 500 * US, 10);
	for (i = 0; i < 2; i++) {
		p = summary_proc(s, 200 + i, SIDE_CLIENT, "pgbench");
		p->opened = 2;
		hist_add_n(&p->phase[SESS_CONNECT], 100 * US, 2);
		hist_add_n(&p->phase[SESS_AUTH], 300 * US, 2);
		hist_add_n(&p->phase[SESS_READY], 1000 * US, 2);
		hist_add_n(&p->idle_in_txn, 250 * US, 1);
		p->failed[FAIL_AUTH] = i;
		p->txns = 5;
	}
	s->ctr.received = 1234;
	s->ctr.dropped = 5;
	s->ctr.reader_raised = 2;
	s->ctr.reader_raised_ns = 1500000000;
	s->duration_s = 2.5;
	return s;
}

/* Expected totals of the sample. */
#define WALL_TOTAL (10 * 1000 + 5 * 50 + 3 * 10 + 10 * 600 + 4 * 100 + 4 * 300 + 2 * 250)
#define CALLS_TOTAL (10 + 5 + 3 + 10 + 4 + 4 + 2)

static char *render(void (*fn)(FILE *, const void *, int), const void *arg, int w)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	fn(f, arg, w);
	fclose(f);
	return buf;
}

static void folded_fn(FILE *f, const void *arg, int w)
{
	folded_write(f, arg, (enum flame_weight)w);
}

/* Weight of the folded line whose stack is exactly key, or -1. */
static long long folded_get(const char *text, const char *key)
{
	const char *p = text;
	size_t k = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, k) && p[k] == ' ')
			return atoll(p + k + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* Checks every line is "frame(;frame)* N" and returns the sum of N. */
static unsigned long long folded_check(const char *text, int *bad)
{
	unsigned long long sum = 0;
	const char *p = text;

	*bad = 0;
	while (*p) {
		const char *nl = strchr(p, '\n'), *sp;
		const char *q;

		if (!nl) {
			(*bad)++;
			break;
		}
		for (sp = nl; sp > p && sp[-1] != ' '; sp--)
			;
		if (sp - p < 2 || sp == nl || strspn(sp, "0123456789") != (size_t)(nl - sp))
			(*bad)++;
		/* frames: none empty */
		if (p[0] == ';' || (sp - p >= 2 && sp[-2] == ';'))
			(*bad)++;
		for (q = p; q + 1 < sp; q++)
			if (q[0] == ';' && q[1] == ';')
				(*bad)++;
		sum += strtoull(sp, NULL, 10);
		p = nl + 1;
	}
	return sum;
}

TEST(export_folded_stacks_and_totals)
{
	struct summary *s = sample_summary();
	struct flame f = {};
	char *txt;
	int bad;

	CHECK_EQ_INT(flame_from_summary(&f, s), 0);
	CHECK_EQ_INT(flame_total(&f, FLAME_WALL_US), WALL_TOTAL);
	CHECK_EQ_INT(flame_total(&f, FLAME_CALLS), CALLS_TOTAL);
	txt = render(folded_fn, &f, FLAME_WALL_US);
	CHECK_EQ_INT(folded_check(txt, &bad), WALL_TOTAL);
	CHECK_EQ_INT(bad, 0);
	/* client select: 10000 us = queue 2000 + reply 1000 + self 7000 */
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT abalance FROM accounts WHERE aid = $1;queue"), 2000);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT abalance FROM accounts WHERE aid = $1;reply"), 1000);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT abalance FROM accounts WHERE aid = $1"), 7000);
	/* server select: stages 4000 + 5000 > 6000: scaled to 2666 + 3333, self 1 */
	CHECK_EQ_INT(folded_get(txt, "server:postgres;query;SELECT abalance FROM accounts WHERE aid = $1;parse") +
		     folded_get(txt, "server:postgres;query;SELECT abalance FROM accounts WHERE aid = $1;execute") +
		     folded_get(txt, "server:postgres;query;SELECT abalance FROM accounts WHERE aid = $1"), 6000);
	CHECK(folded_get(txt, "server:postgres;query;SELECT abalance FROM accounts WHERE aid = $1;execute") >= 3333);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;transaction control;BEGIN"), 250);
	/* ';' and the newline of the odd statement are gone from its frame */
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT \"a,b\" FROM t WHERE x = '\\' AND y = $1"), 30);
	/* session set-up of both processes, merged; "ready" is not a frame */
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;session setup;connect"), 400);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;session setup;auth"), 1200);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;session setup;ready"), -1);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;idle in transaction"), 500);
	free(txt);

	txt = render(folded_fn, &f, FLAME_CALLS);
	CHECK_EQ_INT(folded_check(txt, &bad), CALLS_TOTAL);
	CHECK_EQ_INT(bad, 0);
	/* stage stacks carry no calls: left out when weighing by calls */
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT abalance FROM accounts WHERE aid = $1;queue"), -1);
	CHECK_EQ_INT(folded_get(txt, "client:pgbench;query;SELECT abalance FROM accounts WHERE aid = $1"), 10);
	free(txt);
	flame_free(&f);
	summary_free(s);
}

TEST(export_text_clean)
{
	char *c = text_clean("a;b\nc\xff\xc3\xa9\xe2\x82", true);

	CHECK_STR(c, "a,b c?\xc3\xa9??");
	free(c);
	c = text_clean("a;b", false);
	CHECK_STR(c, "a;b");
	free(c);
}

/* ---- a protobuf reader for the pprof check ---- */

struct rd {
	const unsigned char *p, *end;
	int bad;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	int shift = 0;

	while (r->p < r->end && shift < 64) {
		unsigned char b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	r->bad = 1;
	return 0;
}

/* Next field: its number, wire type, and for LEN fields a sub-reader. */
static int rd_field(struct rd *r, unsigned *field, unsigned *wt, uint64_t *v, struct rd *sub)
{
	uint64_t key, len;

	if (r->p >= r->end || r->bad)
		return 0;
	key = rd_varint(r);
	*field = key >> 3;
	*wt = key & 7;
	if (*wt == 0) {
		*v = rd_varint(r);
	} else if (*wt == 2) {
		len = rd_varint(r);
		if (len > (uint64_t)(r->end - r->p)) {
			r->bad = 1;
			return 0;
		}
		sub->p = r->p;
		sub->end = r->p + len;
		sub->bad = 0;
		r->p += len;
	} else {
		r->bad = 1;
		return 0;
	}
	return !r->bad;
}

#define MAXS 256

struct decoded {
	char *str[MAXS];
	int nstr;
	uint64_t func_name[MAXS];	/* by function id */
	uint64_t loc_func[MAXS];	/* by location id */
	uint64_t sample_type[2][2];
	int nsample_type;
	uint64_t calls, wall;
	int nsamples;
	uint64_t stack_loc[64][8];	/* leaf first */
	int stack_n[64];
	uint64_t stack_wall[64];
	int bad;
};

static void decode(const unsigned char *buf, size_t n, struct decoded *d)
{
	struct rd r = { buf, buf + n, 0 }, m, x;
	unsigned f, wt, f2, wt2;
	uint64_t v, id = 0, name = 0;

	memset(d, 0, sizeof(*d));
	while (rd_field(&r, &f, &wt, &v, &m)) {
		if (f == 6 && wt == 2 && d->nstr < MAXS) {
			d->str[d->nstr] = strndup((const char *)m.p, m.end - m.p);
			d->nstr++;
		} else if (f == 1 && wt == 2 && d->nsample_type < 2) {
			while (rd_field(&m, &f2, &wt2, &v, &x))
				d->sample_type[d->nsample_type][f2 - 1] = v;
			d->nsample_type++;
		} else if (f == 5 && wt == 2) {
			id = name = 0;
			while (rd_field(&m, &f2, &wt2, &v, &x)) {
				if (f2 == 1)
					id = v;
				else if (f2 == 2)
					name = v;
			}
			if (id < MAXS)
				d->func_name[id] = name;
		} else if (f == 4 && wt == 2) {
			uint64_t fid = 0;

			id = 0;
			while (rd_field(&m, &f2, &wt2, &v, &x)) {
				if (f2 == 1) {
					id = v;
				} else if (f2 == 4 && wt2 == 2) {
					struct rd y;

					while (rd_field(&x, &f2, &wt2, &v, &y))
						if (f2 == 1)
							fid = v;
				}
			}
			if (id < MAXS)
				d->loc_func[id] = fid;
		} else if (f == 2 && wt == 2) {
			int k = d->nsamples < 64 ? d->nsamples : 63, nv = 0;
			uint64_t vals[2] = {};

			d->stack_n[k] = 0;
			/* repeated fields, packed or not */
			while (rd_field(&m, &f2, &wt2, &v, &x)) {
				if (f2 == 1 && wt2 == 0 && d->stack_n[k] < 8)
					d->stack_loc[k][d->stack_n[k]++] = v;
				else if (f2 == 2 && wt2 == 0 && nv < 2)
					vals[nv++] = v;
				else if (f2 == 1 && wt2 == 2)
					while (x.p < x.end && d->stack_n[k] < 8)
						d->stack_loc[k][d->stack_n[k]++] = rd_varint(&x);
				else if (f2 == 2 && wt2 == 2)
					while (x.p < x.end && nv < 2)
						vals[nv++] = rd_varint(&x);
			}
			if (nv != 2)
				d->bad = 1;
			d->calls += vals[0];
			d->wall += vals[1];
			d->stack_wall[k] = vals[1];
			d->nsamples++;
		}
	}
	d->bad |= r.bad;
}

static void decoded_free(struct decoded *d)
{
	int i;

	for (i = 0; i < d->nstr; i++)
		free(d->str[i]);
}

static const char *str_at(const struct decoded *d, uint64_t i)
{
	return i < (uint64_t)d->nstr ? d->str[i] : "?";
}

TEST(export_pprof_decodes_to_the_folded_totals)
{
	struct summary *s = sample_summary();
	struct flame f = {};
	struct decoded d;
	char path[] = "/tmp/dblat-unit-pprof.XXXXXX";
	unsigned char *raw = NULL, gzbuf[1 << 16];
	size_t rawlen = 0;
	int fd, i, k, found = 0, n;
	gzFile gz;

	CHECK_EQ_INT(flame_from_summary(&f, s), 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(pprof_file(path, &f, s->duration_s), 0);
	/* The file is gzip: read it back through zlib. */
	gz = gzopen(path, "rb");
	CHECK(gz != NULL);
	n = gz ? gzread(gz, gzbuf, sizeof(gzbuf)) : -1;
	CHECK(n > 0);
	if (gz) {
		CHECK(gzdirect(gz) == 0);	/* really compressed */
		gzclose(gz);
	}
	unlink(path);
	CHECK_EQ_INT(pprof_encode(&f, s->duration_s, &raw, &rawlen), 0);
	CHECK_EQ_INT(n, rawlen);
	CHECK(n > 0 && !memcmp(gzbuf, raw, rawlen));
	free(raw);

	decode(gzbuf, n > 0 ? (size_t)n : 0, &d);
	CHECK_EQ_INT(d.bad, 0);
	CHECK(d.nstr > 0 && d.str[0][0] == 0);
	CHECK_EQ_INT(d.nsample_type, 2);
	CHECK_STR(str_at(&d, d.sample_type[0][0]), "calls");
	CHECK_STR(str_at(&d, d.sample_type[0][1]), "count");
	CHECK_STR(str_at(&d, d.sample_type[1][0]), "wall");
	CHECK_STR(str_at(&d, d.sample_type[1][1]), "microseconds");
	CHECK_EQ_INT(d.wall, WALL_TOTAL);
	CHECK_EQ_INT(d.wall, flame_total(&f, FLAME_WALL_US));
	CHECK_EQ_INT(d.calls, CALLS_TOTAL);
	CHECK_EQ_INT(d.nsamples, f.n);
	/* One sample's stack, leaf first, names the frames of its folded line. */
	for (i = 0; i < d.nsamples && i < 64; i++) {
		char key[512] = "";

		for (k = d.stack_n[i]; k-- > 0;) {
			uint64_t loc = d.stack_loc[i][k];
			const char *nm = loc < MAXS ? str_at(&d, d.func_name[d.loc_func[loc]]) : "?";

			if (k != d.stack_n[i] - 1)
				strcat(key, ";");
			strncat(key, nm, sizeof(key) - strlen(key) - 2);
		}
		if (!strcmp(key, "client:pgbench;session setup;auth")) {
			found = 1;
			CHECK_EQ_INT(d.stack_wall[i], 1200);
			CHECK_EQ_INT(d.stack_n[i], 3);
		}
	}
	CHECK(found);
	decoded_free(&d);
	flame_free(&f);
	summary_free(s);
}

/* ---- Prometheus text ---- */

static void prom_fn(FILE *f, const void *arg, int w)
{
	(void)w;
	prom_write(f, arg);
}

static int name_ok(const char *p, size_t n)
{
	size_t i;

	if (!n || !(p[0] == '_' || p[0] == ':' || ((p[0] | 32) >= 'a' && (p[0] | 32) <= 'z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!(p[i] == '_' || p[i] == ':' || ((p[i] | 32) >= 'a' && (p[i] | 32) <= 'z') ||
		      (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return 1;
}

/* Checks one sample line's syntax; returns 0 if it is bad. */
static int prom_line_ok(const char *l)
{
	size_t n = strcspn(l, "{ ");
	const char *p = l + n;
	char *end;

	if (!name_ok(l, n))
		return 0;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t k = strcspn(p, "=");

			if (!name_ok(p, k) || p[k] != '=' || p[k + 1] != '"')
				return 0;
			p += k + 2;
			while (*p && *p != '"') {
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
						return 0;
					p++;
				}
				p++;
			}
			if (*p != '"')
				return 0;
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return 0;
		}
		p++;
	}
	if (*p != ' ')
		return 0;
	strtod(p + 1, &end);
	return end != p + 1 && *end == 0;
}

TEST(export_prometheus_text)
{
	struct summary *s = sample_summary();
	char *txt = render(prom_fn, s, 0), *save = NULL, *line;
	int bad = 0, helps = 0, types = 0;
	double prev = -1;

	CHECK(strstr(txt, "# TYPE dblat_query_duration_seconds histogram\n") != NULL);
	CHECK(strstr(txt, "dblat_events_received_total 1234\n") != NULL);
	CHECK(strstr(txt, "dblat_events_dropped_total 5\n") != NULL);
	CHECK(strstr(txt, "dblat_reader_raised_total 2\n") != NULL);
	CHECK(strstr(txt, "# TYPE dblat_reader_raised_seconds_total counter\ndblat_reader_raised_seconds_total 1.500000\n") != NULL);
	CHECK(strstr(txt, "dblat_query_duration_seconds_count{side=\"client\",comm=\"pgbench\",query=\"SELECT abalance FROM accounts WHERE aid = $1\"} 10\n") != NULL);
	CHECK(strstr(txt, "dblat_query_duration_seconds_sum{side=\"client\",comm=\"pgbench\",query=\"SELECT abalance FROM accounts WHERE aid = $1\"} 0.010000000\n") != NULL);
	CHECK(strstr(txt, "dblat_query_errors_total{side=\"client\",comm=\"pgbench\",query=\"SELECT abalance FROM accounts WHERE aid = $1\"} 2\n") != NULL);
	/* 1 ms latencies: not under 0.0005, all under 0.001 and the rest */
	CHECK(strstr(txt, "query=\"SELECT abalance FROM accounts WHERE aid = $1\",le=\"0.0005\"} 0\n") != NULL);
	CHECK(strstr(txt, "side=\"client\",comm=\"pgbench\",query=\"SELECT abalance FROM accounts WHERE aid = $1\",le=\"0.001\"} 10\n") != NULL);
	CHECK(strstr(txt, "side=\"client\",comm=\"pgbench\",query=\"SELECT abalance FROM accounts WHERE aid = $1\",le=\"+Inf\"} 10\n") != NULL);
	/* quotes and backslashes escaped, the newline gone */
	CHECK(strstr(txt, "query=\"SELECT \\\"a;b\\\" FROM t WHERE x = '\\\\' AND y = $1\"") != NULL);
	/* the two pgbench processes are one series */
	CHECK(strstr(txt, "dblat_sessions_opened_total{side=\"client\",comm=\"pgbench\"} 4\n") != NULL);
	CHECK(strstr(txt, "dblat_session_failures_total{side=\"client\",reason=\"auth\"} 1\n") != NULL);
	CHECK(strstr(txt, "dblat_session_setup_seconds_count{side=\"client\",phase=\"connect\"} 4\n") != NULL);
	CHECK(strstr(txt, "dblat_transactions_total{side=\"client\",comm=\"pgbench\"} 10\n") != NULL);
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			helps++;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			const char *t = strrchr(line, ' ') + 1;

			types++;
			if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
				bad++;
			continue;
		}
		if (!prom_line_ok(line)) {
			fprintf(stderr, "  bad line: %s\n", line);
			bad++;
			continue;
		}
		/* buckets of one series never go down, then _sum follows */
		if (strstr(line, "_bucket{")) {
			double v = strtod(strrchr(line, ' ') + 1, NULL);

			if (prev >= 0 && v < prev)
				bad++;
			prev = v;
		} else {
			prev = -1;
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(helps > 10);
	CHECK_EQ_INT(helps, types);
	free(txt);
	summary_free(s);
}

TEST(export_metrics_http_answers)
{
	struct summary *s = sample_summary();
	size_t n = 0;
	char *r = metrics_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", s, &n);

	CHECK(r && !strncmp(r, "HTTP/1.0 200 OK\r\n", 17));
	CHECK(r && strstr(r, "Content-Type: text/plain; version=0.0.4") != NULL);
	CHECK(r && strstr(r, "\r\n\r\n# HELP ") != NULL);
	CHECK(r && strstr(r, "dblat_events_received_total 1234\n") != NULL);
	CHECK_EQ_INT(r ? strlen(r) : 0, n);
	free(r);
	r = metrics_response("HEAD /metrics HTTP/1.0\r\n\r\n", s, &n);
	CHECK(r && !strncmp(r, "HTTP/1.0 200 OK\r\n", 17) && !strstr(r, "# HELP"));
	free(r);
	r = metrics_response("POST /metrics HTTP/1.0\r\n\r\n", s, &n);
	CHECK(r && !strncmp(r, "HTTP/1.0 405 ", 13));
	free(r);
	r = metrics_response("GET /metricsx HTTP/1.0\r\n\r\n", s, &n);
	CHECK(r && !strncmp(r, "HTTP/1.0 404 ", 13));
	free(r);
	r = metrics_response("garbage", s, &n);
	CHECK(r && !strncmp(r, "HTTP/1.0 400 ", 13));
	free(r);
	summary_free(s);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

TEST(export_svg_and_html)
{
	struct summary *s = sample_summary();
	struct flame f = {};
	struct svg_opts o = { .title = "t<1>", .weight = FLAME_WALL_US };
	char path[] = "/tmp/dblat-unit-svg.XXXXXX";
	char *txt;
	int fd;

	CHECK_EQ_INT(flame_from_summary(&f, s), 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(flame_svg_file(path, &f, &o), 0);
	txt = slurp(path);
	CHECK(txt != NULL);
	if (txt) {
		CHECK(!strncmp(txt, "<?xml ", 6));
		CHECK(strstr(txt, "t&lt;1&gt;") != NULL);
		CHECK(strstr(txt, "data-n=\"SELECT abalance FROM accounts WHERE aid = $1\"") != NULL);
		CHECK(strstr(txt, "data-n=\"SELECT &quot;a,b&quot; FROM t WHERE x = &#39;\\&#39; AND y = $1\"") != NULL);
		/* all, 2 roots, 3 phases + set-up + idle, 3 + 1 statements, 2 set-up phases, 4 stages */
		CHECK_EQ_INT(count(txt, "<g class=\"f\""), 1 + 2 + 4 + 1 + 4 + 2 + 4);
		CHECK_EQ_INT(count(txt, "<g "), count(txt, "</g>"));
		CHECK(strstr(txt, "<script><![CDATA[") != NULL);
		/* nothing from the network: the only addresses are XML namespaces */
		CHECK_EQ_INT(count(txt, "http"), count(txt, "http://www.w3.org/"));
	}
	free(txt);
	CHECK_EQ_INT(html_file(path, s, &f, FLAME_WALL_US), 0);
	txt = slurp(path);
	CHECK(txt != NULL);
	if (txt) {
		CHECK(!strncmp(txt, "<!DOCTYPE html>", 15));
		CHECK(strstr(txt, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" id=\"dblat-flame\"") != NULL);
		CHECK(strstr(txt, "<td class=\"q\">SELECT abalance FROM accounts WHERE aid = $1</td>") != NULL);
		CHECK(strstr(txt, "id=\"sessions\"") != NULL);
		CHECK(strstr(txt, "reader fell behind and ran at nice 0 for 1.5 s (2 time(s))") != NULL);
		CHECK(strstr(txt, "src=") == NULL);
		CHECK(strstr(txt, "<?xml") == NULL);
	}
	free(txt);
	unlink(path);
	CHECK_EQ_INT(html_file("/nonexistent-dir/x.html", s, &f, FLAME_WALL_US), -1);
	CHECK_EQ_INT(folded_file("/nonexistent-dir/x.folded", &f, FLAME_WALL_US), -1);
	flame_free(&f);
	summary_free(s);
}

struct two {
	const struct flame *a, *b;
};

static void diff_fn(FILE *f, const void *arg, int w)
{
	const struct two *t = arg;

	folded_diff_write(f, t->a, t->b, (enum flame_weight)w);
}

TEST(export_folded_diff)
{
	struct summary *a = summary_new(), *b = summary_new();
	uint32_t q1 = summary_intern(a, "SELECT 1 FROM x", 15), q2;
	struct flame fa = {}, fb = {};
	struct two t = { &fa, &fb };
	char *txt;

	add(a, q1, SIDE_CLIENT, "app", 5000, 4, 0);
	q2 = summary_intern(b, "SELECT 2 FROM y", 15);
	q1 = summary_intern(b, "SELECT 1 FROM x", 15);
	add(b, q1, SIDE_CLIENT, "app", 100, 4, 0);
	add(b, q2, SIDE_CLIENT, "app", 10, 1, 0);
	CHECK_EQ_INT(flame_from_summary(&fa, a), 0);
	CHECK_EQ_INT(flame_from_summary(&fb, b), 0);
	txt = render(diff_fn, &t, FLAME_WALL_US);
	CHECK_STR(txt, "client:app;query;SELECT 1 FROM x 20000 400\n"
		       "client:app;query;SELECT 2 FROM y 0 10\n");
	free(txt);
	flame_free(&fa);
	flame_free(&fb);
	summary_free(a);
	summary_free(b);
}

static void text_fn(FILE *out, const void *arg, int w)
{
	report_text(out, arg, w);
}

/* A reader that fell behind is on record in the JSON and the text report. */
TEST(report_reader_raised)
{
	struct summary *s = sample_summary();
	char path[] = "/tmp/dblat-unit-json.XXXXXX";
	char *txt;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(report_json(path, s), 0);
	txt = slurp(path);
	CHECK(txt && strstr(txt, "\"unmatched\":0,\"reader_raised\":2,\"reader_raised_s\":1.500}") != NULL);
	free(txt);
	unlink(path);
	txt = render(text_fn, s, 100);
	CHECK(strstr(txt, "dblat: the reader fell behind and ran at nice 0 for 1.5 s (2 time(s))") != NULL);
	free(txt);
	summary_free(s);
}

/* A sampled run says so in every format, with the time its rates are counted over. */
TEST(report_sampling)
{
	struct summary *s = sample_summary();
	char path[] = "/tmp/dblat-unit-json.XXXXXX";
	char *txt;
	int fd = mkstemp(path);

	/* Unsampled: rates over the whole duration. */
	txt = render(prom_fn, s, 0);
	CHECK(strstr(txt, "dblat_traced_seconds_total 2.500000\n") != NULL);
	CHECK(strstr(txt, "dblat_sample_percent 0\n") != NULL);
	free(txt);
	s->sample_pct = 10;
	s->sample_period_ms = 1000;
	s->sample_windows = 3;
	s->sampled_ns = 300000000;
	s->sample_cut = 7;
	txt = render(prom_fn, s, 0);
	CHECK(strstr(txt, "# TYPE dblat_traced_seconds_total counter\ndblat_traced_seconds_total 0.300000\n") != NULL);
	CHECK(strstr(txt, "dblat_sample_percent 10\n") != NULL);
	free(txt);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(report_json(path, s), 0);
	txt = slurp(path);
	CHECK(txt && strstr(txt, "\"sampling\":{\"percent\":10,\"percent_max\":0,\"period_ms\":1000,\"windows\":3,"
			   "\"traced_s\":0.300,\"cut_calls\":7,\"budget_pct\":0,\"over_budget\":false,") != NULL);
	free(txt);
	unlink(path);
	txt = render(text_fn, s, 100);
	CHECK(strstr(txt, "dblat: sampled: windows of 10% of every 1000 ms, 3 windows, 0.3 s traced of 2.5 s, "
			  "7 calls cut") != NULL);
	free(txt);
	summary_free(s);
}
