// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"
#include "fingerprint.h"
#include "tls.h"

static void fmt_us(char *buf, size_t n, double ns)
{
	double us = ns / 1000.0;

	if (us < 1000)
		snprintf(buf, n, "%.1fus", us);
	else if (us < 1e6)
		snprintf(buf, n, "%.2fms", us / 1000);
	else
		snprintf(buf, n, "%.2fs", us / 1e6);
}

/* Where the mean went, for statements whose stages were measured: "queue 12us server 80us ...". */
static void stage_split(FILE *out, const struct stmt_stats *st)
{
	char v[16];
	int k, any = 0;

	for (k = 0; k < STAGE_N; k++) {
		if (!st->stage[k].count)
			continue;
		fmt_us(v, sizeof(v), hist_mean(&st->stage[k]));
		fprintf(out, "%s%s %s", any++ ? "  " : "       mean split: ", stage_name(k), v);
	}
	if (any)
		fputc('\n', out);
}

static void row(FILE *out, const struct summary *s, const struct stmt_stats *st,
		const struct hist *h, uint64_t calls, int width)
{
	char mean[16], p50[16], p99[16], max[16], tot[16];
	const char *q = summary_fp_text(s, st->fp);

	fmt_us(mean, sizeof(mean), hist_mean(h));
	fmt_us(p50, sizeof(p50), (double)hist_quantile(h, 0.5));
	fmt_us(p99, sizeof(p99), (double)hist_quantile(h, 0.99));
	fmt_us(max, sizeof(max), (double)h->max);
	fmt_us(tot, sizeof(tot), (double)h->sum);
	fprintf(out, "%-6s %-15s %9llu %6llu %9s %9s %9s %9s %9s  %.*s%s\n",
		side_name(st->side), st->comm, (unsigned long long)calls,
		(unsigned long long)st->errors, mean, p50, p99, max, tot,
		width, q, (int)strlen(q) > width ? "..." : "");
	stage_split(out, st);
}

static void header(FILE *out)
{
	fprintf(out, "%-6s %-15s %9s %6s %9s %9s %9s %9s %9s  %s\n", "SIDE", "COMM", "CALLS",
		"ERRORS", "MEAN", "P50", "P99", "MAX", "TOTAL", "QUERY");
}

static void report_sessions(FILE *out, const struct summary *s)
{
	uint32_t i;
	int k;
	bool any = false;

	for (i = 0; i < s->nprocs; i++) {
		const struct proc_stats *p = s->procs[i];
		char ready[16], p99[16], commit[16], txn[16];
		uint64_t fails = 0, all = 0, over = 0;

		for (k = 0; k < FAIL_N; k++)
			fails += p->failed[k];
		for (k = 0; k < STMT_NCLASS; k++) {
			all += p->class_ns[k];
			if (k != STMT_WORK && k != STMT_MAINT)
				over += p->class_ns[k];
		}
		if (!p->opened && !fails && !p->txns && !all)
			continue;
		if (!any) {
			fprintf(out, "\n%-6s %-15s %7s %6s %6s %9s %9s %6s %8s %6s %9s %9s %8s\n", "SIDE", "COMM", "PID",
				"OPENED", "FAILED", "READY", "READY99", "OPEN", "BUSY/MAX", "TXNS", "TXN", "COMMIT",
				"OVERHEAD");
			any = true;
		}
		fmt_us(ready, sizeof(ready), hist_mean(&p->phase[SESS_READY]));
		fmt_us(p99, sizeof(p99), (double)hist_quantile(&p->phase[SESS_READY], 0.99));
		fmt_us(txn, sizeof(txn), hist_mean(&p->txn_dur));
		fmt_us(commit, sizeof(commit), hist_mean(&p->commit_lat));
		fprintf(out, "%-6s %-15s %7u %6llu %6llu %9s %9s %6u %4u/%-3u %6llu %9s %9s %7.1f%%\n",
			side_name(p->side), p->comm, p->tgid, (unsigned long long)p->opened,
			(unsigned long long)fails, ready, p99, p->max_open, p->max_busy, p->max_open,
			(unsigned long long)p->txns, txn, commit, all ? 100.0 * over / all : 0.0);
		for (k = 0; k < (int)p->noutages; k++) {
			const struct outage *o = &p->outages[k];

			if (o->end_ns)
				fprintf(out, "       outage: %llu failures, recovered after %.3f s\n",
					(unsigned long long)o->failures, (o->end_ns - o->start_ns) / 1e9);
			else
				fprintf(out, "       outage: %llu failures, not recovered by the end\n",
					(unsigned long long)o->failures);
		}
	}
}

static uint64_t attributed_total(const struct route_stats *r, int *main_method)
{
	uint64_t n = 0, best = 0;
	int m;

	*main_method = BIND_DERIVED_ANCHORED;
	for (m = 0; m < BIND_N; m++) {
		n += r->attributed[m];
		if (r->attributed[m] > best) {
			best = r->attributed[m];
			*main_method = m;
		}
	}
	return n;
}

/* Per route: requests, latency, and where the bound requests' time went (means). */
static void report_requests(FILE *out, const struct summary *s)
{
	char lat[16], p99[16], db[16], wait[16], app[16], stmts[16];
	uint32_t i, j;
	int m;

	for (i = 0; i < s->nroutes; i++) {
		const struct route_stats *r = &s->routes[i];
		uint64_t bad = 0, bound = attributed_total(r, &m);

		if (!i)
			fprintf(out, "\n%-15s %7s %-28s %7s %6s %9s %9s %6s %9s %6s %9s %9s  %s\n", "COMM", "PID",
				"REQUEST", "COUNT", "NON2XX", "MEAN", "P99", "BOUND", "DB", "STMTS", "POOLWAIT",
				"REST", "BOUND BY");
		for (j = 0; j < r->nstatus; j++)
			if (r->status[j].code < 200 || r->status[j].code >= 300)
				bad += r->status[j].n;
		fmt_us(lat, sizeof(lat), hist_mean(&r->lat));
		fmt_us(p99, sizeof(p99), (double)hist_quantile(&r->lat, 0.99));
		fmt_us(db, sizeof(db), hist_mean(&r->db));
		fmt_us(wait, sizeof(wait), hist_mean(&r->pool_wait));
		fmt_us(app, sizeof(app), hist_mean(&r->app));
		snprintf(stmts, sizeof(stmts), "%.1f", hist_mean(&r->stmts));
		{
			char req[sizeof(r->method) + sizeof(r->route) + 1];

			snprintf(req, sizeof(req), "%s %s", r->method, r->route);
			fprintf(out, "%-15s %7u %-28s %7llu %6llu %9s %9s %6llu %9s %6s %9s %9s  %s\n", r->comm,
				r->tgid, req, (unsigned long long)r->count, (unsigned long long)bad, lat, p99,
				(unsigned long long)bound, bound ? db : "-", bound ? stmts : "-",
				r->pool_wait.count ? wait : "-", bound ? app : "-",
				bound ? bind_method_name(m) : "-");
		}
	}
	for (i = 0; i < s->nroutes; i++) {
		const struct route_stats *r = &s->routes[i];

		if (r->unread || r->no_response)
			fprintf(out, "%s[%u] %s %s: %llu answers never reached the client (it had gone), "
				"%llu requests closed before any answer\n", r->comm, r->tgid, r->method, r->route,
				(unsigned long long)r->unread, (unsigned long long)r->no_response);
	}
	for (i = 0; i < s->npools; i++) {
		const struct pool_stats *p = &s->pools[i];
		const struct hist *h;

		m = pool_method(p);
		h = pool_wait_hist(p);
		if (!h->count)
			continue;
		fmt_us(lat, sizeof(lat), hist_mean(h));
		fmt_us(p99, sizeof(p99), (double)hist_quantile(h, 0.99));
		fprintf(out, "pool %s[%u]: queue wait mean %s p99 %s over %llu (%s)", p->comm, p->tgid, lat, p99,
			(unsigned long long)h->count, bind_method_name(m));
		if (p->timed_out)
			fprintf(out, ", %llu timed out (503/504)", (unsigned long long)p->timed_out);
		if (p->unmatched || p->given_up)
			fprintf(out, ", %llu checkouts unmatched, %llu given up", (unsigned long long)p->unmatched,
				(unsigned long long)p->given_up);
		fputc('\n', out);
	}
}

void report_text(FILE *out, const struct summary *s, int width)
{
	uint32_t n, i;
	struct stmt_stats **v = summary_sorted(s, &n);
	const struct tracer_counters *c = &s->ctr;
	char words[1024];

	fprintf(out, "dblat: %.1f s traced, %llu events, %llu dropped, %llu connections\n",
		s->duration_s, (unsigned long long)c->received, (unsigned long long)c->dropped,
		(unsigned long long)c->conns_adopted);
	if (c->conns_tls)
		fprintf(out, "dblat: %llu connections were encrypted (TLS): %llu with statement text from the TLS probes, %llu timed per round trip only (\"%s\")\n",
			(unsigned long long)c->conns_tls, (unsigned long long)c->conns_tls_plain,
			(unsigned long long)c->conns_tls_timing, TLS_FP_TIMING);
	if (summary_sampling_words(s, words, sizeof(words)) > 0)
		fprintf(out, "dblat: %s\n", words);
	if (c->reader_raised)
		fprintf(out, "dblat: the reader fell behind and ran at nice 0 for %.1f s (%llu time(s)): see --nice\n",
			c->reader_raised_ns / 1e9, (unsigned long long)c->reader_raised);
	if (c->dropped || c->lost_sync || c->tail_overflow)
		fprintf(out, "dblat: WARNING: %llu events dropped, %llu framing losses, %llu oversized buffers: some statements are missing\n",
			(unsigned long long)c->dropped, (unsigned long long)c->lost_sync,
			(unsigned long long)c->tail_overflow);
	header(out);
	for (i = 0; v && i < n; i++)
		row(out, s, v[i], &v[i]->lat, v[i]->calls, width);
	free(v);
	report_sessions(out, s);
	report_requests(out, s);
}

void report_live(FILE *out, const struct summary *s, double interval_s, uint32_t nconns)
{
	uint32_t n, i, shown = 0;
	struct stmt_stats **v = summary_sorted(s, &n);

	fprintf(out, "\n--- %.0f s: %u connections, %llu events, %llu dropped; per second over the last %.0f s%s ---\n",
		s->duration_s, nconns, (unsigned long long)s->ctr.received,
		(unsigned long long)s->ctr.dropped, interval_s, s->sample_pct ? " (in windows: calls seen)" : "");
	header(out);
	for (i = 0; v && i < n && shown < 20; i++) {
		if (!v[i]->ival.count)
			continue;
		row(out, s, v[i], &v[i]->ival, v[i]->ival.count, 60);
		shown++;
	}
	report_sessions(out, s);
	fflush(out);
	free(v);
}
