// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"
#include "fingerprint.h"

void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void latency(FILE *out, const struct hist *h)
{
	fprintf(out, "{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"total\":%.3f}",
		hist_mean(h) / 1e3, hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.9) / 1e3,
		hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, h->max / 1e3,
		h->sum / 1e3);
}

/* Only the stages that were measured for this statement. */
static void stages(FILE *out, const struct stmt_stats *st)
{
	int i;
	const char *sep = "";

	for (i = 0; i < STAGE_N; i++)
		if (st->stage[i].count)
			break;
	if (i == STAGE_N)
		return;
	fputs(",\"stages_us\":{", out);
	for (i = 0; i < STAGE_N; i++) {
		if (!st->stage[i].count)
			continue;
		fprintf(out, "%s\"%s\":", sep, stage_name(i));
		latency(out, &st->stage[i]);
		sep = ",";
	}
	fputc('}', out);
}

static void hist_obj(FILE *out, const char *name, const struct hist *h)
{
	fprintf(out, "\"%s\":{\"count\":%llu,", name, (unsigned long long)h->count);
	fputs("\"us\":", out);
	latency(out, h);
	fputc('}', out);
}

static double ns_s(uint64_t ns)
{
	return ns / 1e9;
}

/* sessions, overhead, occupancy, transactions and outages: one entry per process and side */
static void json_procs(FILE *out, const struct summary *s)
{
	uint32_t i;
	int k;
	const char *sep = "";

	fputs("\"processes\":[", out);
	for (i = 0; i < s->nprocs; i++) {
		const struct proc_stats *p = s->procs[i];
		uint64_t all_ns = 0, over_ns = 0, all_calls = 0, over_calls = 0;

		fprintf(out, "%s\n {\"pid\":%u,\"side\":\"%s\",\"comm\":", sep, p->tgid, side_name(p->side));
		sep = ",";
		json_str(out, p->comm);
		/* sessions */
		fprintf(out, ",\n  \"sessions\":{\"opened\":%llu,\"closed\":%llu,\"opened_per_s\":%.3f,\"failed\":{",
			(unsigned long long)p->opened, (unsigned long long)p->closed,
			s->duration_s > 0 ? p->opened / s->duration_s : 0.0);
		for (k = 0; k < FAIL_N; k++)
			fprintf(out, "%s\"%s\":%llu", k ? "," : "", fail_reason_name(k),
				(unsigned long long)p->failed[k]);
		fputs("},\"auth\":{", out);
		for (k = 0; k < AUTH_N; k++)
			fprintf(out, "%s\"%s\":%llu", k ? "," : "", auth_method_name(k),
				(unsigned long long)p->auth_count[k]);
		fprintf(out, "},\"auth_roundtrips\":%llu,\"phases\":{", (unsigned long long)p->auth_roundtrips);
		for (k = 0; k < SESS_PHASE_N; k++) {
			if (k)
				fputc(',', out);
			hist_obj(out, sess_phase_name(k), &p->phase[k]);
		}
		fputs("},", out);
		if (p->side == SIDE_SERVER) {
			hist_obj(out, "accept_wait", &p->accept_wait);
			fputc(',', out);
			hist_obj(out, "backend_start", &p->backend_start);
			fputc(',', out);
		}
		hist_obj(out, "lifetime", &p->lifetime);
		fputs("},\n  \"overhead\":{\"classes\":{", out);
		for (k = 0; k < STMT_NCLASS; k++) {
			fprintf(out, "%s\"%s\":{\"calls\":%llu,\"time_us\":%.3f}", k ? "," : "",
				dblat_class_name(k), (unsigned long long)p->class_calls[k], p->class_ns[k] / 1e3);
			all_ns += p->class_ns[k];
			all_calls += p->class_calls[k];
			if (k != STMT_WORK && k != STMT_MAINT) {
				over_ns += p->class_ns[k];
				over_calls += p->class_calls[k];
			}
		}
		fprintf(out, "},\"share_of_db_time\":%.4f,\"roundtrips_per_work_statement\":%.3f,\"time_us_per_work_statement\":%.3f},",
			all_ns ? (double)over_ns / all_ns : 0.0,
			p->class_calls[STMT_WORK] ? (double)over_calls / p->class_calls[STMT_WORK] : 0.0,
			p->class_calls[STMT_WORK] ? over_ns / 1e3 / p->class_calls[STMT_WORK] : 0.0);
		(void)all_calls;
		fprintf(out, "\n  \"occupancy\":{\"open\":%u,\"busy\":%u,\"max_open\":%u,\"max_busy\":%u,\"saturated_s\":%.3f},",
			p->open_now, p->busy_now, p->max_open, p->max_busy, ns_s(p->saturated_ns));
		fprintf(out, "\n  \"transactions\":{\"count\":%llu,\"aborted\":%llu,",
			(unsigned long long)p->txns, (unsigned long long)p->aborted);
		hist_obj(out, "duration", &p->txn_dur);
		fputc(',', out);
		hist_obj(out, "commit", &p->commit_lat);
		fputc(',', out);
		hist_obj(out, "idle_in_transaction", &p->idle_in_txn);
		fputs("},\n  \"outages\":[", out);
		for (k = 0; k < (int)p->noutages; k++) {
			const struct outage *o = &p->outages[k];

			fprintf(out, "%s{\"start_s\":%.3f,\"end_s\":", k ? "," : "",
				o->start_ns > s->start_ns ? ns_s(o->start_ns - s->start_ns) : 0.0);
			if (o->end_ns)
				fprintf(out, "%.3f,\"recovery_s\":%.3f", ns_s(o->end_ns - s->start_ns),
					ns_s(o->end_ns - o->start_ns));
			else
				fputs("null,\"recovery_s\":null", out);
			fprintf(out, ",\"failures\":%llu}", (unsigned long long)o->failures);
		}
		fputs("]}", out);
	}
	fputs("\n],\n", out);
}

/* A histogram of counts (not ns), e.g. statements per request. */
static void counts(FILE *out, const struct hist *h)
{
	fprintf(out, "{\"mean\":%.3f,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu}", hist_mean(h),
		(unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
		(unsigned long long)hist_quantile(h, 0.99), (unsigned long long)h->max);
}

/* How many requests got database work bound, and by which method. */
static void attributed(FILE *out, const struct route_stats *r)
{
	uint64_t n = 0;
	int m;

	for (m = 0; m < BIND_N; m++)
		n += r->attributed[m];
	fprintf(out, ",\"attributed\":{\"count\":%llu", (unsigned long long)n);
	for (m = 0; m < BIND_N; m++)
		if (m != BIND_EXACT_PROXY)
			fprintf(out, ",\"%s\":%llu", bind_method_name(m), (unsigned long long)r->attributed[m]);
	fputc('}', out);
}

static void json_route(FILE *out, const struct summary *s, const struct route_stats *r)
{
	uint32_t j;

	fprintf(out, "{\"pid\":%u,\"comm\":", r->tgid);
	json_str(out, r->comm);
	fputs(",\"method\":", out);
	json_str(out, r->method);
	fputs(",\"route\":", out);
	json_str(out, r->route);
	fprintf(out, ",\"count\":%llu,\"unread\":%llu,\"no_response\":%llu,\"status\":{", (unsigned long long)r->count,
		(unsigned long long)r->unread, (unsigned long long)r->no_response);
	for (j = 0; j < r->nstatus; j++)
		fprintf(out, "%s\"%u\":%llu", j ? "," : "", r->status[j].code,
			(unsigned long long)r->status[j].n);
	fputs("},\"latency_us\":", out);
	latency(out, &r->lat);
	attributed(out, r);
	fputs(",\"db_us\":", out);
	latency(out, &r->db);
	fputs(",\"statements_per_request\":", out);
	counts(out, &r->stmts);
	fputs(",\"pool_wait_us\":", out);
	latency(out, &r->pool_wait);
	fputs(",\"app_us\":", out);
	latency(out, &r->app);
	fputs(",\"db_after_response_us\":", out);
	latency(out, &r->after);
	fputs(",\"db_before_arrival_us\":", out);
	latency(out, &r->before);
	fputs(",\"statements\":[", out);
	for (j = 0; j < r->nper_stmt; j++) {
		const struct route_stmt *rs = &r->per_stmt[j];
		const char *q = summary_fp_text(s, rs->st->fp);

		fputs(j ? ",{\"query\":" : "{\"query\":", out);
		json_str(out, q);
		fprintf(out, ",\"class\":\"%s\",\"calls\":%llu,\"time_us\":%.3f}", dblat_class_name(dblat_classify(q)),
			(unsigned long long)rs->calls, rs->ns / 1e3);
	}
	fputs("]}", out);
}

static double saturated_s(const struct summary *s, uint32_t tgid)
{
	uint32_t i;

	for (i = 0; i < s->nprocs; i++)
		if (s->procs[i]->tgid == tgid && s->procs[i]->side == SIDE_CLIENT)
			return ns_s(s->procs[i]->saturated_ns);
	return 0;
}

static void json_pool(FILE *out, const struct summary *s, const struct pool_stats *p)
{
	uint64_t paired = 0;
	int m;

	for (m = 0; m < BIND_N; m++)
		paired += p->waits[m];
	fprintf(out, "{\"pid\":%u,\"comm\":", p->tgid);
	json_str(out, p->comm);
	fprintf(out, ",\"method\":\"%s\",\"event_loop\":%s", bind_method_name(pool_method(p)),
		p->event_loop ? "true" : "false");
	fputs(",\"thread_gap_us\":", out);
	latency(out, &p->thread_gap);
	fputs(",\"thread_wait_us\":", out);
	latency(out, &p->thread_wait);
	fputs(",\"proxy_wait_us\":", out);
	latency(out, &p->proxy_wait);
	fprintf(out, ",\"requests\":%llu,\"checkouts\":%llu,\"paired\":%llu,\"wait_methods\":{",
		(unsigned long long)p->requests, (unsigned long long)p->checkouts, (unsigned long long)paired);
	fprintf(out, "\"%s\":%llu,\"%s\":%llu}", bind_method_name(BIND_DERIVED_ANCHORED),
		(unsigned long long)p->waits[BIND_DERIVED_ANCHORED], bind_method_name(BIND_DERIVED_FIFO),
		(unsigned long long)p->waits[BIND_DERIVED_FIFO]);
	fprintf(out, ",\"unmatched\":%llu,\"unseen\":%llu,\"given_up\":%llu,\"timed_out\":%llu,\"saturated_s\":%.3f,",
		(unsigned long long)p->unmatched, (unsigned long long)p->unseen, (unsigned long long)p->given_up,
		(unsigned long long)p->timed_out, saturated_s(s, p->tgid));
	fprintf(out, "\"wait_us\":{\"count\":%llu,", (unsigned long long)p->wait.count);
	fprintf(out, "\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},",
		hist_mean(&p->wait) / 1e3, hist_quantile(&p->wait, 0.5) / 1e3,
		hist_quantile(&p->wait, 0.9) / 1e3, hist_quantile(&p->wait, 0.99) / 1e3,
		p->wait.max / 1e3);
	fputs("\"timed_out_wait_us\":", out);
	latency(out, &p->timed_out_wait);
	fputc('}', out);
}

static void json_requests(FILE *out, const struct summary *s)
{
	uint32_t i, j;

	fputs("\"requests\":[", out);
	for (i = 0; i < s->nroutes; i++) {
		fputs(i ? ",\n " : "\n ", out);
		json_route(out, s, &s->routes[i]);
	}
	fputs("\n],\n\"pool\":[", out);
	for (i = 0, j = 0; i < s->npools; i++) {
		const struct pool_stats *p = &s->pools[i];

		if (!p->requests && !p->thread_gap.count && !p->proxy_wait.count)
			continue;
		fputs(j++ ? ",\n " : "\n ", out);
		json_pool(out, s, p);
	}
	fputs("\n],\n", out);
}

static void json_labels(FILE *out, const struct summary *s)
{
	uint32_t i;

	fputs("\"backends\":[", out);
	for (i = 0; i < s->nlabels; i++) {
		const struct backend_label *l = &s->labels[i];

		fputs(i ? ",\n {\"database\":" : "\n {\"database\":", out);
		json_str(out, l->database);
		fputs(",\"user\":", out);
		json_str(out, l->user);
		fputs(",\"application_name\":", out);
		json_str(out, l->application_name);
		fprintf(out, ",\"sessions\":%llu,\"calls\":%llu,\"errors\":%llu,\"time_us\":%.3f}",
			(unsigned long long)l->sessions, (unsigned long long)l->calls,
			(unsigned long long)l->errors, l->time_ns / 1e3);
	}
	fputs("\n],\n", out);
}

static void json_timeline(FILE *out, const struct summary *s)
{
	uint32_t i;

	fputs("\"timeline\":[", out);
	for (i = 0; i < s->ntimeline; i++) {
		const struct timeline_event *e = &s->timeline[i];

		fprintf(out, "%s\n {\"start_s\":%.3f,\"end_s\":", i ? "," : "",
			e->start_ns > s->start_ns ? ns_s(e->start_ns - s->start_ns) : 0.0);
		if (e->end_ns)
			fprintf(out, "%.3f", e->end_ns > s->start_ns ? ns_s(e->end_ns - s->start_ns) : 0.0);
		else
			fputs("null", out);
		fputs(",\"what\":", out);
		json_str(out, e->what);
		fputs(",\"detail\":", out);
		json_str(out, e->detail);
		fputc('}', out);
	}
	fputs("\n]", out);
}

int report_json(const char *path, const struct summary *s)
{
	FILE *out = fopen(path, "we");
	uint32_t n, i, j;
	struct stmt_stats **v;
	const struct tracer_counters *c = &s->ctr;

	if (!out) {
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	v = summary_sorted(s, &n);
	fprintf(out, "{\"schema\":\"%s\",\"duration_s\":%.3f,\n", DBLAT_JSON_SCHEMA, s->duration_s);
	fprintf(out, "\"events\":{\"received\":%llu,\"dropped\":%llu,\"lost_sync\":%llu,\"tail_overflow\":%llu,\"resyncs\":%llu,\"unmatched\":%llu,"
		"\"reader_raised\":%llu,\"reader_raised_s\":%.3f},\n",
		(unsigned long long)c->received, (unsigned long long)c->dropped,
		(unsigned long long)c->lost_sync, (unsigned long long)c->tail_overflow,
		(unsigned long long)c->resyncs, (unsigned long long)c->unmatched,
		(unsigned long long)c->reader_raised, c->reader_raised_ns / 1e9);
	/*
	 * Runs traced in windows: rates are counts over traced_s (which is
	 * duration_s when percent is 0). Under a budget, percent and
	 * percent_max are the smallest and largest windows, full_s the time
	 * every call was traced.
	 */
	fprintf(out, "\"sampling\":{\"percent\":%u,\"percent_max\":%u,\"period_ms\":%u,\"windows\":%llu,"
		"\"traced_s\":%.3f,\"cut_calls\":%llu,\"budget_pct\":%g,\"over_budget\":%s,\"held\":%s,\"full_s\":%.3f,"
		"\"full_cost_pct\":%.3f,\"full_cost_peak_pct\":%.3f},\n",
		s->sample_pct, s->sample_pct_max, s->sample_period_ms, (unsigned long long)s->sample_windows,
		summary_traced_s(s), (unsigned long long)s->sample_cut, s->budget_pct,
		s->budget_over_at ? "true" : "false", s->budget_held ? "true" : "false",
		summary_full_s(s),
		s->full_cost * 100, s->full_cost_peak * 100);
	fprintf(out, "\"connections\":{\"adopted\":%llu,\"not_postgres\":%llu,", (unsigned long long)c->conns_adopted,
		(unsigned long long)c->conns_not_pg);
	/* TLS: with statement text from the probes' plaintext, or round trips timed only */
	fprintf(out, "\"encrypted\":{\"true\":%llu,\"false\":%llu,\"with_text\":%llu,\"timing_only\":%llu,\"plaintext_unbound\":%llu}},\n",
		(unsigned long long)c->conns_tls,
		(unsigned long long)(c->conns_adopted > c->conns_tls ? c->conns_adopted - c->conns_tls : 0),
		(unsigned long long)c->conns_tls_plain, (unsigned long long)c->conns_tls_timing,
		(unsigned long long)c->tls_unbound);
	fputs("\"statements\":[", out);
	for (i = 0; v && i < n; i++) {
		const struct stmt_stats *st = v[i];
		const char *q = summary_fp_text(s, st->fp);

		fputs(i ? ",\n {" : "\n {", out);
		fputs("\"query\":", out);
		json_str(out, q);
		fprintf(out, ",\"class\":\"%s\",\"side\":\"%s\",\"comm\":", dblat_class_name(dblat_classify(q)),
			side_name(st->side));
		json_str(out, st->comm);
		fputs(",\"pids\":[", out);
		for (j = 0; j < st->npids; j++)
			fprintf(out, "%s%u", j ? "," : "", st->pids[j]);
		fprintf(out, "],\"calls\":%llu,\"encrypted\":{\"true\":%llu,\"false\":%llu},\"errors\":%llu,\"rows\":%llu,\"sqlstates\":{",
			(unsigned long long)st->calls, (unsigned long long)st->encrypted_calls,
			(unsigned long long)(st->calls - st->encrypted_calls), (unsigned long long)st->errors,
			(unsigned long long)st->rows);
		for (j = 0; j < st->nstates; j++) {
			fputs(j ? "," : "", out);
			json_str(out, st->states[j].code);
			fprintf(out, ":%llu", (unsigned long long)st->states[j].n);
		}
		fputs("},\"latency_us\":", out);
		latency(out, &st->lat);
		stages(out, st);
		fputc('}', out);
	}
	fputs("\n],\n", out);
	free(v);
	json_procs(out, s);
	json_requests(out, s);
	json_labels(out, s);
	locks_json(out, s);
	json_timeline(out, s);
	fputs("}\n", out);
	if (fclose(out)) {
		fprintf(stderr, "dblat: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
