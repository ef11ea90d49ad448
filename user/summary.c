// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "summary.h"
#include "fingerprint.h"

#define HASH_MASK 4095

static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 16777619u;
	return h;
}

struct summary *summary_new(void)
{
	return calloc(1, sizeof(struct summary));
}

void summary_free(struct summary *s)
{
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < s->nstmts; i++) {
		struct stmt_stats *st = s->stmts[i];

		int k;

		hist_free(&st->lat);
		hist_free(&st->ival);
		for (k = 0; k < STAGE_N; k++)
			hist_free(&st->stage[k]);
		free(st->pids);
		free(st->states);
		free(st);
	}
	for (i = 0; i < s->nfps; i++) {
		free(s->fps[i]->text);
		free(s->fps[i]);
	}
	free(s->fps);
	free(s->stmts);
	for (i = 0; i < s->nprocs; i++) {
		struct proc_stats *p = s->procs[i];
		int k;

		for (k = 0; k < SESS_PHASE_N; k++)
			hist_free(&p->phase[k]);
		hist_free(&p->lifetime);
		hist_free(&p->accept_wait);
		hist_free(&p->backend_start);
		hist_free(&p->txn_dur);
		hist_free(&p->commit_lat);
		hist_free(&p->idle_in_txn);
		free(p->outages);
		free(p);
	}
	free(s->procs);
	for (i = 0; i < s->nseries; i++)
		hist_free(&s->series[i].lat);
	free(s->series);
	free(s->timeline);
	for (i = 0; i < s->nroutes; i++) {
		struct route_stats *r = &s->routes[i];

		hist_free(&r->lat);
		hist_free(&r->db);
		hist_free(&r->stmts);
		hist_free(&r->pool_wait);
		hist_free(&r->app);
		hist_free(&r->after);
		hist_free(&r->before);
		free(r->per_stmt);
	}
	free(s->routes);
	for (i = 0; i < s->npools; i++) {
		hist_free(&s->pools[i].wait);
		hist_free(&s->pools[i].timed_out_wait);
		hist_free(&s->pools[i].thread_gap);
		hist_free(&s->pools[i].thread_wait);
		hist_free(&s->pools[i].proxy_wait);
	}
	free(s->pools);
	free(s->labels);
	free(s);
}

uint32_t summary_intern(struct summary *s, const char *text, uint32_t len)
{
	uint32_t h = fnv1a(text, len, 2166136261u) & HASH_MASK;
	struct fp_entry *e;

	for (e = s->fp_hash[h]; e; e = e->next)
		if (e->len == len && !memcmp(e->text, text, len))
			break;
	if (e)
		return e->id;
	if (s->nfps == s->cap_fps) {
		uint32_t nc = s->cap_fps ? 2 * s->cap_fps : 256;
		struct fp_entry **n = realloc(s->fps, nc * sizeof(*n));

		if (!n)
			return 0;
		s->fps = n;
		s->cap_fps = nc;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return 0;
	e->text = malloc(len + 1);
	if (!e->text) {
		free(e);
		return 0;
	}
	memcpy(e->text, text, len);
	e->text[len] = 0;
	e->len = len;
	e->id = s->nfps;
	e->cls = dblat_classify(e->text);
	e->next = s->fp_hash[h];
	s->fp_hash[h] = e;
	s->fps[s->nfps] = e;
	return s->nfps++;
}

const char *summary_fp_text(const struct summary *s, uint32_t id)
{
	return id < s->nfps ? s->fps[id]->text : "";
}

struct stmt_stats *summary_stmt(struct summary *s, uint32_t fp, uint8_t side, const char *comm)
{
	char c[DBLAT_COMM_LEN] = {};
	uint32_t h;
	struct stmt_stats *st;

	strncpy(c, comm ? comm : "", sizeof(c) - 1);
	h = fnv1a(&fp, sizeof(fp), 2166136261u);
	h = fnv1a(&side, 1, h);
	h = fnv1a(c, strlen(c), h) & HASH_MASK;
	for (st = s->stmt_hash[h]; st; st = st->next)
		if (st->fp == fp && st->side == side && !strcmp(st->comm, c))
			return st;
	if (s->nstmts == s->cap_stmts) {
		uint32_t nc = s->cap_stmts ? 2 * s->cap_stmts : 64;
		struct stmt_stats **n = realloc(s->stmts, nc * sizeof(*n));

		if (!n)
			return NULL;
		s->stmts = n;
		s->cap_stmts = nc;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->fp = fp;
	st->side = side;
	memcpy(st->comm, c, sizeof(c));
	st->next = s->stmt_hash[h];
	s->stmt_hash[h] = st;
	s->stmts[s->nstmts++] = st;
	return st;
}

static void add_pid(struct stmt_stats *st, uint32_t pid)
{
	uint32_t i;

	for (i = 0; i < st->npids; i++)
		if (st->pids[i] == pid)
			return;
	if (st->npids == st->cap_pids) {
		uint32_t nc = st->cap_pids ? 2 * st->cap_pids : 4;
		uint32_t *n = realloc(st->pids, nc * sizeof(*n));

		if (!n)
			return;
		st->pids = n;
		st->cap_pids = nc;
	}
	st->pids[st->npids++] = pid;
}

static void add_state(struct stmt_stats *st, const char *code)
{
	uint32_t i;
	struct sqlstate_count *n;

	for (i = 0; i < st->nstates; i++)
		if (!strcmp(st->states[i].code, code)) {
			st->states[i].n++;
			return;
		}
	n = realloc(st->states, (st->nstates + 1) * sizeof(*n));
	if (!n)
		return;
	st->states = n;
	memset(&n[st->nstates], 0, sizeof(*n));
	snprintf(n[st->nstates].code, sizeof(n[st->nstates].code), "%.5s", code);
	n[st->nstates].n = 1;
	st->nstates++;
}

struct stmt_stats *summary_add_call(struct summary *s, const struct call *c)
{
	struct stmt_stats *st = summary_stmt(s, c->fp, c->side, c->comm);

	if (!st)
		return NULL;
	st->calls++;
	st->encrypted_calls += c->encrypted;
	st->rows += c->rows;
	hist_add(&st->lat, c->lat_ns);
	hist_add(&st->ival, c->lat_ns);
	add_pid(st, c->pid);
	if (c->error) {
		st->errors++;
		add_state(st, c->sqlstate && *c->sqlstate ? c->sqlstate : "?????");
	}
	return st;
}

static int by_total(const void *a, const void *b)
{
	const struct stmt_stats *x = *(struct stmt_stats *const *)a, *y = *(struct stmt_stats *const *)b;

	if (x->lat.sum != y->lat.sum)
		return x->lat.sum < y->lat.sum ? 1 : -1;
	if (x->side != y->side)
		return x->side - y->side;
	return x->fp < y->fp ? -1 : x->fp > y->fp;
}

struct stmt_stats **summary_sorted(const struct summary *s, uint32_t *n)
{
	struct stmt_stats **v = malloc((s->nstmts ? s->nstmts : 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	memcpy(v, s->stmts, s->nstmts * sizeof(*v));
	qsort(v, s->nstmts, sizeof(*v), by_total);
	*n = s->nstmts;
	return v;
}

const char *side_name(uint8_t side)
{
	return side == SIDE_SERVER ? "server" : "client";
}

struct proc_stats *summary_proc(struct summary *s, uint32_t tgid, uint8_t side, const char *comm)
{
	uint32_t h = (tgid * 2654435761u + side) & 1023;
	struct proc_stats *p;

	for (p = s->proc_hash[h]; p; p = p->next)
		if (p->tgid == tgid && p->side == side)
			return p;
	if (s->nprocs == s->cap_procs) {
		uint32_t nc = s->cap_procs ? 2 * s->cap_procs : 32;
		struct proc_stats **n = realloc(s->procs, nc * sizeof(*n));

		if (!n)
			return NULL;
		s->procs = n;
		s->cap_procs = nc;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->side = side;
	snprintf(p->comm, sizeof(p->comm), "%s", comm ? comm : "");
	p->next = s->proc_hash[h];
	s->proc_hash[h] = p;
	s->procs[s->nprocs++] = p;
	return p;
}

#define MAX_SERIES (7 * 24 * 3600)

struct series_point *summary_series_at(struct summary *s, uint64_t ts_ns)
{
	uint64_t sec;

	if (!s->start_ns || ts_ns < s->start_ns)
		return s->nseries ? &s->series[0] : NULL;
	sec = (ts_ns - s->start_ns) / 1000000000ull;
	if (sec >= MAX_SERIES)
		return NULL;
	if (sec >= s->nseries) {
		struct series_point *n = realloc(s->series, (sec + 1) * sizeof(*n));

		if (!n)
			return NULL;
		memset(&n[s->nseries], 0, (sec + 1 - s->nseries) * sizeof(*n));
		s->series = n;
		s->nseries = sec + 1;
	}
	return &s->series[sec];
}

void summary_timeline_add(struct summary *s, uint64_t start_ns, uint64_t end_ns,
			  const char *what, const char *detail)
{
	struct timeline_event *e;

	if (s->ntimeline == s->cap_timeline) {
		uint32_t nc = s->cap_timeline ? 2 * s->cap_timeline : 32;
		struct timeline_event *n = realloc(s->timeline, nc * sizeof(*n));

		if (!n)
			return;
		s->timeline = n;
		s->cap_timeline = nc;
	}
	e = &s->timeline[s->ntimeline++];
	memset(e, 0, sizeof(*e));
	e->start_ns = start_ns;
	e->end_ns = end_ns;
	snprintf(e->what, sizeof(e->what), "%s", what);
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

const char *sess_phase_name(int p)
{
	static const char *const n[SESS_PHASE_N] = { "connect", "tls", "startup", "auth", "init", "ready" };

	return p >= 0 && p < SESS_PHASE_N ? n[p] : "?";
}

const char *fail_reason_name(int r)
{
	static const char *const n[FAIL_N] = { "refused", "timeout", "reset", "auth", "too_many_connections",
					       "shutdown", "other" };

	return r >= 0 && r < FAIL_N ? n[r] : "?";
}

const char *auth_method_name(int m)
{
	static const char *const n[AUTH_N] = { "trust", "cleartext", "md5", "scram-sha-256", "gss", "other" };

	return m >= 0 && m < AUTH_N ? n[m] : "?";
}

const char *stage_name(int st)
{
	static const char *const n[STAGE_N] = { "queue", "server", "parse", "plan", "execute", "lock_wait",
						"reply", "lwlock_wait", "buffer_read" };

	return st >= 0 && st < STAGE_N ? n[st] : "?";
}

const char *bind_method_name(int m)
{
	static const char *const n[BIND_N] = {
		[BIND_EXACT_THREAD] = "exact-thread",
		[BIND_EXACT_PROXY] = "exact-proxy",
		[BIND_DERIVED_ANCHORED] = "derived-anchored",
		[BIND_DERIVED_FIFO] = "derived-fifo",
	};

	return m >= 0 && m < BIND_N ? n[m] : "?";
}

struct pool_stats *summary_pool(struct summary *s, uint32_t tgid, const char *comm)
{
	uint32_t i;
	struct pool_stats *p;

	for (i = 0; i < s->npools; i++)
		if (s->pools[i].tgid == tgid)
			return &s->pools[i];
	p = realloc(s->pools, (s->npools + 1) * sizeof(*p));
	if (!p)
		return NULL;
	s->pools = p;
	p = &p[s->npools++];
	memset(p, 0, sizeof(*p));
	p->tgid = tgid;
	snprintf(p->comm, sizeof(p->comm), "%s", comm);
	return p;
}

/* The queue wait its method gives: a thread's time off CPU between statements once it is timed. */
const struct hist *pool_wait_hist(const struct pool_stats *p)
{
	switch (pool_method(p)) {
	case BIND_EXACT_PROXY:
		return &p->proxy_wait;
	case BIND_EXACT_THREAD:
		return p->thread_wait.count ? &p->thread_wait : &p->thread_gap;
	default:
		return &p->wait;
	}
}

int pool_method(const struct pool_stats *p)
{
	if (p->proxy_wait.count)
		return BIND_EXACT_PROXY;
	if (!p->event_loop && p->thread_gap.count)
		return BIND_EXACT_THREAD;
	return p->waits[BIND_DERIVED_FIFO] > p->waits[BIND_DERIVED_ANCHORED] ? BIND_DERIVED_FIFO
									   : BIND_DERIVED_ANCHORED;
}

/* Under a budget, ns every call was traced; a stretch still going on runs to the summary's time. */
static double full_traced_ns(const struct summary *s)
{
	double now = s->start_ns + s->duration_s * 1e9;

	return s->full_ns + (s->full_since && now > s->full_since ? now - s->full_since : 0);
}

double summary_full_s(const struct summary *s)
{
	return full_traced_ns(s) / 1e9;
}

double summary_traced_s(const struct summary *s)
{
	if (!s->sample_pct && !s->budget_pct)
		return s->duration_s;
	return (s->sampled_ns + full_traced_ns(s)) / 1e9;
}

int summary_sampling_words(const struct summary *s, char *buf, size_t size)
{
	const char *seen = "counts are of the calls seen (rates: divide by the time traced)";
	double over;

	if (!s->sample_pct && !s->budget_pct)
		return 0;
	if (!s->budget_pct)
		return snprintf(buf, size, "sampled: windows of %u%% of every %u ms, %llu windows, %.1f s traced of %.1f s, "
				"%llu calls cut at a window's end; %s; no request binding or pool waits",
				s->sample_pct, s->sample_period_ms, (unsigned long long)s->sample_windows,
				summary_traced_s(s), s->duration_s, (unsigned long long)s->sample_cut, seen);
	if (!s->budget_over_at && s->budget_held)
		return snprintf(buf, size, "every call traced, at an estimated %.2f%% of the host's CPUs (up to "
				"%.1f%%), over its CPU budget of %g%%: a traced process serves HTTP, and binding its "
				"requests to their statements needs every call (--budget %g traces in windows anyway)",
				s->full_cost * 100, s->full_cost_peak * 100, s->budget_pct, s->budget_pct);
	if (!s->budget_over_at)
		return snprintf(buf, size, "within its CPU budget (%g%% of the host's CPUs): every call traced, "
				"at an estimated %.2f%%", s->budget_pct, s->full_cost * 100);
	over = s->budget_over_at > s->start_ns ? (s->budget_over_at - s->start_ns) / 1e9 : 0;
	return snprintf(buf, size, "over its CPU budget (%g%% of the host's CPUs) from %.1f s: tracing every call "
			"was estimated at up to %.1f%%, so connections were traced in windows of %u to %u%% of every "
			"%u ms (%llu windows) and every call for %.1f s: %.1f s traced of %.1f s, %llu calls cut at a "
			"window's end; %s; request binding and pool waits need every call: read them from a run "
			"within the budget or with --full%s",
			s->budget_pct, over, s->full_cost_peak * 100, s->sample_pct, s->sample_pct_max,
			s->sample_period_ms, (unsigned long long)s->sample_windows,
			summary_full_s(s), summary_traced_s(s), s->duration_s,
			(unsigned long long)s->sample_cut, seen,
			s->budget_held ? " (every call was kept while a traced process served HTTP)" : "");
}
