// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Prometheus text exposition (version 0.0.4) of the summary. Histograms
 * have fixed `le` bounds in seconds, counted from the latency histograms'
 * buckets: a bucket counts under a bound when its lowest value does, so
 * every observation at most the bound is counted, and so may be a few just
 * above it (within one bucket, 1/64 of the value).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "export_formats.h"
#include "export_util.h"

static const struct {
	const char *text;
	uint64_t ns;
} bounds[] = {
	{ "1e-05", 10000 }, { "2.5e-05", 25000 }, { "5e-05", 50000 },
	{ "0.0001", 100000 }, { "0.00025", 250000 }, { "0.0005", 500000 },
	{ "0.001", 1000000 }, { "0.0025", 2500000 }, { "0.005", 5000000 },
	{ "0.01", 10000000 }, { "0.025", 25000000 }, { "0.05", 50000000 },
	{ "0.1", 100000000 }, { "0.25", 250000000 }, { "0.5", 500000000 },
	{ "1", 1000000000 }, { "2.5", 2500000000 }, { "5", 5000000000 },
	{ "10", 10000000000 },
};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	char *c = text_clean(s, false);

	for (s = c ? c : "?"; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		fputc(*s, out);
	}
	free(c);
}

/* Labels: pairs of name and value, NULL-terminated; extra is a pre-formatted last pair. */
static void labels(FILE *out, const char *const *kv, const char *extra)
{
	int i, any = 0;

	if (!kv[0] && !extra)
		return;
	fputc('{', out);
	for (i = 0; kv[i]; i += 2) {
		fprintf(out, "%s%s=\"", any++ ? "," : "", kv[i]);
		label_value(out, kv[i + 1]);
		fputc('"', out);
	}
	if (extra)
		fprintf(out, "%s%s", any ? "," : "", extra);
	fputc('}', out);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, const char *const *kv, unsigned long long v)
{
	fputs(name, out);
	labels(out, kv, NULL);
	fprintf(out, " %llu\n", v);
}

static void gauge_d(FILE *out, const char *name, const char *const *kv, double v)
{
	fputs(name, out);
	labels(out, kv, NULL);
	fprintf(out, " %.6f\n", v);
}

static void histogram(FILE *out, const char *name, const char *const *kv, const struct hist *h)
{
	uint64_t cum = 0;
	unsigned b = 0;
	size_t i;
	char le[32];

	for (i = 0; i < NBOUNDS; i++) {
		for (; h->b && b < HIST_NBUCKETS && hist_bucket_low(b) <= bounds[i].ns; b++)
			cum += h->b[b];
		if (cum > h->count)
			cum = h->count;
		snprintf(le, sizeof(le), "le=\"%s\"", bounds[i].text);
		fprintf(out, "%s_bucket", name);
		labels(out, kv, le);
		fprintf(out, " %llu\n", (unsigned long long)cum);
	}
	fprintf(out, "%s_bucket", name);
	labels(out, kv, "le=\"+Inf\"");
	fprintf(out, " %llu\n", (unsigned long long)h->count);
	fprintf(out, "%s_sum", name);
	labels(out, kv, NULL);
	fprintf(out, " %.9f\n", h->sum / 1e9);
	fprintf(out, "%s_count", name);
	labels(out, kv, NULL);
	fprintf(out, " %llu\n", (unsigned long long)h->count);
}

static void counters(FILE *out, const struct summary *s)
{
	static const char *const none[] = { NULL };
	const struct tracer_counters *c = &s->ctr;
	static const struct {
		const char *name, *help;
		size_t off;
	} ctrs[] = {
		{ "dblat_events_received_total", "Events consumed from the ring buffer.",
		  offsetof(struct tracer_counters, received) },
		{ "dblat_events_dropped_total", "Events lost because the ring buffer was full.",
		  offsetof(struct tracer_counters, dropped) },
		{ "dblat_events_lost_sync_total", "Times the in-kernel framing lost the message boundaries.",
		  offsetof(struct tracer_counters, lost_sync) },
		{ "dblat_responses_unmatched_total", "Responses that matched no request.",
		  offsetof(struct tracer_counters, unmatched) },
		{ "dblat_connections_adopted_total", "PostgreSQL connections traced.",
		  offsetof(struct tracer_counters, conns_adopted) },
		{ "dblat_reader_raised_total", "Times dblat's reader fell behind and left its niceness for nice 0.",
		  offsetof(struct tracer_counters, reader_raised) },
	};
	size_t i;

	header(out, "dblat_duration_seconds", "gauge", "Time traced so far.");
	gauge_d(out, "dblat_duration_seconds", none, s->duration_s);
	for (i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++) {
		header(out, ctrs[i].name, "counter", ctrs[i].help);
		sample(out, ctrs[i].name, none, *(const uint64_t *)((const char *)c + ctrs[i].off));
	}
	header(out, "dblat_reader_raised_seconds_total", "counter", "Time dblat's reader ran at nice 0 after falling behind.");
	gauge_d(out, "dblat_reader_raised_seconds_total", none, c->reader_raised_ns / 1e9);
	/* Sampled runs: divide the counters of calls by this, not by the duration. */
	header(out, "dblat_traced_seconds_total", "counter",
	       "Time connections were traced: the duration, or the windows' total (and stretches of every call under a budget).");
	gauge_d(out, "dblat_traced_seconds_total", none, summary_traced_s(s));
	header(out, "dblat_sample_percent", "gauge",
	       "Share of each period traced in windows (under a budget the smallest); 0: every call.");
	sample(out, "dblat_sample_percent", none, s->sample_pct);
	header(out, "dblat_budget_percent", "gauge", "dblat's CPU budget, % of the host's CPUs; 0: none.");
	gauge_d(out, "dblat_budget_percent", none, s->budget_pct);
	header(out, "dblat_full_tracing_cost_ratio", "gauge",
	       "Under a budget: what tracing every call was last estimated to cost, as a share of the host's CPUs.");
	gauge_d(out, "dblat_full_tracing_cost_ratio", none, s->full_cost);
}

static void statements(FILE *out, const struct summary *s)
{
	uint32_t i;

	header(out, "dblat_query_duration_seconds", "histogram",
	       "Statement latency by side, process name and statement fingerprint.");
	for (i = 0; i < s->nstmts; i++) {
		const struct stmt_stats *st = s->stmts[i];
		const char *kv[] = { "side", side_name(st->side), "comm", st->comm,
				     "query", summary_fp_text(s, st->fp), NULL };

		histogram(out, "dblat_query_duration_seconds", kv, &st->lat);
	}
	header(out, "dblat_query_errors_total", "counter", "Statements that ended in an error.");
	for (i = 0; i < s->nstmts; i++) {
		const struct stmt_stats *st = s->stmts[i];
		const char *kv[] = { "side", side_name(st->side), "comm", st->comm,
				     "query", summary_fp_text(s, st->fp), NULL };

		sample(out, "dblat_query_errors_total", kv, st->errors);
	}
	header(out, "dblat_query_rows_total", "counter", "Rows returned or affected by statements.");
	for (i = 0; i < s->nstmts; i++) {
		const struct stmt_stats *st = s->stmts[i];
		const char *kv[] = { "side", side_name(st->side), "comm", st->comm,
				     "query", summary_fp_text(s, st->fp), NULL };

		sample(out, "dblat_query_rows_total", kv, st->rows);
	}
}

#define EACH_GROUP(stmt) do {						\
	for (i = 0; i < ng; i++) {					\
		const struct proc_group *p = &g[i];			\
		const char *kv[] = { "side", side_name(p->side), "comm", p->comm, NULL }; \
		stmt;							\
	}								\
} while (0)

static void sessions(FILE *out, const struct proc_group *g, uint32_t ng)
{
	uint32_t i;
	int k;

	header(out, "dblat_sessions_opened_total", "counter", "Sessions (connections) opened.");
	EACH_GROUP(sample(out, "dblat_sessions_opened_total", kv, p->opened));
	header(out, "dblat_sessions_closed_total", "counter", "Sessions (connections) closed.");
	EACH_GROUP(sample(out, "dblat_sessions_closed_total", kv, p->closed));
	header(out, "dblat_connections_open", "gauge", "Connections open now.");
	EACH_GROUP(sample(out, "dblat_connections_open", kv, p->open_now));
	header(out, "dblat_connections_busy", "gauge", "Connections with a statement in flight now.");
	EACH_GROUP(sample(out, "dblat_connections_busy", kv, p->busy_now));
	header(out, "dblat_session_failures_total", "counter", "Sessions that failed before they were ready, by reason.");
	for (k = 0; k < FAIL_N; k++) {
		uint64_t n[2] = { 0, 0 };
		int side;

		for (i = 0; i < ng; i++)
			n[g[i].side == SIDE_SERVER] += g[i].failed[k];
		for (side = 0; side < 2; side++) {
			const char *kv[] = { "side", side_name(side), "reason", fail_reason_name(k), NULL };

			if (n[side] || side == SIDE_CLIENT)
				sample(out, "dblat_session_failures_total", kv, n[side]);
		}
	}
	header(out, "dblat_session_setup_seconds", "histogram",
	       "Session set-up time by phase (ready: connect to first ReadyForQuery).");
	for (k = 0; k < SESS_PHASE_N; k++) {
		struct hist h[2] = {};
		int side;

		for (i = 0; i < ng; i++)
			hist_merge(&h[g[i].side == SIDE_SERVER], &g[i].phase[k]);
		for (side = 0; side < 2; side++) {
			const char *kv[] = { "side", side_name(side), "phase", sess_phase_name(k), NULL };

			if (h[side].count || side == SIDE_CLIENT)
				histogram(out, "dblat_session_setup_seconds", kv, &h[side]);
			hist_free(&h[side]);
		}
	}
}

static void transactions(FILE *out, const struct proc_group *g, uint32_t ng)
{
	uint32_t i;

	header(out, "dblat_transactions_total", "counter", "Transactions ended (committed or aborted).");
	EACH_GROUP(sample(out, "dblat_transactions_total", kv, p->txns));
	header(out, "dblat_transactions_aborted_total", "counter", "Transactions rolled back or failed.");
	EACH_GROUP(sample(out, "dblat_transactions_aborted_total", kv, p->aborted));
	header(out, "dblat_transaction_duration_seconds", "histogram", "Transaction duration, BEGIN to its end.");
	EACH_GROUP(histogram(out, "dblat_transaction_duration_seconds", kv, &p->txn_dur));
	header(out, "dblat_idle_in_transaction_seconds", "histogram",
	       "Time sessions spent idle inside a transaction, between its statements.");
	EACH_GROUP(histogram(out, "dblat_idle_in_transaction_seconds", kv, &p->idle_in_txn));
}

#define EACH_ROUTE(...) do {						\
	for (i = 0; i < s->nroutes; i++) {				\
		const struct route_stats *r = &s->routes[i];		\
		char pid[16];						\
		const char *kv[] = { "comm", r->comm, "pid", pid, "http_method", r->method, \
				     "route", r->route, NULL };		\
		snprintf(pid, sizeof(pid), "%u", r->tgid);		\
		__VA_ARGS__;						\
	}								\
} while (0)

/* HTTP requests per route, the database time bound to them, and pool queue waits. */
static void requests(FILE *out, const struct summary *s)
{
	uint32_t i;
	int m;

	if (!s->nroutes && !s->npools)
		return;
	header(out, "dblat_http_request_duration_seconds", "histogram",
	       "HTTP request latency of traced servers: request read to the last response write.");
	EACH_ROUTE(histogram(out, "dblat_http_request_duration_seconds", kv, &r->lat));
	header(out, "dblat_http_request_db_seconds", "histogram",
	       "Database time of each HTTP request its statements were bound to.");
	EACH_ROUTE(histogram(out, "dblat_http_request_db_seconds", kv, &r->db));
	header(out, "dblat_http_request_db_after_response_seconds", "histogram",
	       "Of that, database time after the response was written (a reset on return to the pool).");
	EACH_ROUTE(histogram(out, "dblat_http_request_db_after_response_seconds", kv, &r->after));
	header(out, "dblat_http_responses_unread_total", "counter",
	       "Answers that never reached the client: it reset the connection with them unread, had closed it "
	       "before they were written, or its FIN did not acknowledge them (a client timeout, a load "
	       "generator's deadline).");
	EACH_ROUTE(sample(out, "dblat_http_responses_unread_total", kv, r->unread));
	header(out, "dblat_http_requests_no_response_total", "counter",
	       "Requests read on a connection that closed before any response was written.");
	EACH_ROUTE(sample(out, "dblat_http_requests_no_response_total", kv, r->no_response));
	header(out, "dblat_http_requests_bound_total", "counter",
	       "HTTP requests with their database work bound to them, by how (bound_by).");
	for (m = 0; m < BIND_N; m++) {
		if (m == BIND_EXACT_PROXY)
			continue;
		EACH_ROUTE({
			const char *kvm[] = { kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7],
					      "bound_by", bind_method_name(m), NULL };

			sample(out, "dblat_http_requests_bound_total", kvm, r->attributed[m]);
		});
	}
	header(out, "dblat_pool_wait_seconds", "histogram",
	       "Queue wait for a pooled connection, per process; bound_by says how it was obtained.");
	for (i = 0; i < s->npools; i++) {
		const struct pool_stats *p = &s->pools[i];
		int pm = pool_method(p);
		const struct hist *h = pool_wait_hist(p);
		char pid[16];
		const char *kv[] = { "comm", p->comm, "pid", pid, "bound_by", bind_method_name(pm), NULL };

		snprintf(pid, sizeof(pid), "%u", p->tgid);
		if (h->count)
			histogram(out, "dblat_pool_wait_seconds", kv, h);
	}
}

void prom_write(FILE *out, const struct summary *s)
{
	uint32_t ng = 0;
	struct proc_group *g = proc_groups(s, &ng);

	counters(out, s);
	statements(out, s);
	sessions(out, g, ng);
	transactions(out, g, ng);
	requests(out, s);
	proc_groups_free(g, ng);
}

int prom_file(const char *path, const struct summary *s)
{
	FILE *out = export_open(path);

	if (!out)
		return -1;
	prom_write(out, s);
	return export_close(out, path);
}
