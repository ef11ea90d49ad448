// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "collector.h"
#include "conn.h"
#include "session.h"
#include "pgwire.h"
#include "fingerprint.h"

struct collector *collector_new(struct summary *sum, collector_reject_fn reject, void *ctx)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sum = sum;
	c->reject = reject;
	c->reject_ctx = ctx;
	c->fp_unknown_stmt = summary_intern(sum, "<prepared statement: Parse not seen>", 36);
	c->rb = reqbind_new(sum);
	if (!c->rb) {
		free(c);
		return NULL;
	}
	return c;
}

static void names_free(struct name_fp **l)
{
	struct name_fp *n, *nx;

	for (n = *l; n; n = nx) {
		nx = n->next;
		free(n->name);
		free(n);
	}
	*l = NULL;
}

static void backend_unindex(struct collector *c, struct conn *k)
{
	struct conn **pp;

	if (k->role != DBLAT_ROLE_SERVER)
		return;
	for (pp = &c->by_backend[k->tgid & (CONN_HASH - 1)]; *pp; pp = &(*pp)->backend_next)
		if (*pp == k) {
			*pp = k->backend_next;
			return;
		}
}

struct conn *collector_backend_conn(struct collector *c, uint32_t tgid)
{
	struct conn *k;

	for (k = c->by_backend[tgid & (CONN_HASH - 1)]; k; k = k->backend_next)
		if (k->tgid == tgid)
			return k;
	return NULL;
}

static void conn_free(struct conn *k)
{
	free(k->done);
	pg_framer_free(&k->fr);
	names_free(&k->stmts);
	names_free(&k->portals);
	free(k->q);
	free(k->tls);
	free(k->bag);
	free(k);
}

void collector_free(struct collector *c)
{
	if (c)
		free(c->proxy);
	uint32_t i;
	struct conn *k, *nx;

	if (!c)
		return;
	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = nx) {
			nx = k->next;
			conn_free(k);
		}
	tls_free(c);
	reqbind_free(c->rb);
	free(c);
}

uint32_t collector_nconns(const struct collector *c)
{
	return c->nconns;
}

bool collector_serves_http(const struct collector *c)
{
	const struct conn *k;
	uint32_t i;

	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = k->next)
			if (k->role == DBLAT_ROLE_HTTP && !k->dead)
				return true;
	return false;
}

static struct conn *conn_find(struct collector *c, uint64_t id)
{
	struct conn *k;

	for (k = c->hash[id & (CONN_HASH - 1)]; k; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

/* Unlink *pp (which is k) after every module has closed its books on it. */
static void conn_end(struct collector *c, struct conn **pp, struct conn *k, uint64_t ts)
{
	http_conn_end(c, k, true);
	labels_end(c, k, ts);
	tls_conn_end(c, k);
	join_conn_end(c, k);
	http_period_over(c, k);
	backend_unindex(c, k);
	session_end(c, k, ts, false);
	*pp = k->next;
	conn_free(k);
	c->nconns--;
}

static void conn_drop(struct collector *c, uint64_t id, uint64_t ts)
{
	struct conn **pp = &c->hash[id & (CONN_HASH - 1)], *k;

	for (; (k = *pp); pp = &k->next)
		if (k->id == id) {
			conn_end(c, pp, k, ts);
			return;
		}
}

static void drop_process(struct collector *c, uint32_t tgid, uint64_t ts)
{
	uint32_t i;

	tls_process_exit(c, tgid);
	for (i = 0; i < CONN_HASH; i++) {
		struct conn **pp = &c->hash[i], *k;

		while ((k = *pp)) {
			if (k->tgid == tgid)
				conn_end(c, pp, k, ts);
			else
				pp = &k->next;
		}
	}
}

static struct conn *conn_new(struct collector *c, const struct dblat_event *ev, size_t size)
{
	struct conn *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->id = ev->conn_id;
	k->tgid = ev->tgid;
	k->fd = ev->fd;
	k->role = ev->role;
	/* From the event, never from /proc: a replayed recording must give the same answer. */
	snprintf(k->comm, sizeof(k->comm), "%.*s", DBLAT_COMM_LEN - 1, ev->comm);
	if (ev->kind == DBLAT_EV_CONN && size >= sizeof(*ev) + sizeof(k->info))
		memcpy(&k->info, ev + 1, sizeof(k->info));
	pg_framer_init(&k->fr, false);
	k->next = c->hash[k->id & (CONN_HASH - 1)];
	c->hash[k->id & (CONN_HASH - 1)] = k;
	if (k->role == DBLAT_ROLE_SERVER) {
		k->backend_next = c->by_backend[k->tgid & (CONN_HASH - 1)];
		c->by_backend[k->tgid & (CONN_HASH - 1)] = k;
	}
	c->nconns++;
	if (k->role == DBLAT_ROLE_HTTP)
		return k;
	c->sum->ctr.conns_adopted++;
	session_conn_new(c, k, ev->ts_ns);
	return k;
}

/* ---- names ---- */

static struct name_fp *name_find(struct name_fp *l, const char *p, size_t n)
{
	for (; l; l = l->next)
		if (strlen(l->name) == n && !memcmp(l->name, p, n))
			return l;
	return NULL;
}

static void name_set(struct name_fp **l, const struct pg_str *name, uint32_t fp)
{
	struct name_fp *e = name_find(*l, name->p, name->n);

	if (e) {
		e->fp = fp;
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->name = strndup(name->p, name->n);
	if (!e->name) {
		free(e);
		return;
	}
	e->fp = fp;
	e->next = *l;
	*l = e;
}

static void name_del(struct name_fp **l, const struct pg_str *name)
{
	struct name_fp **pp = l, *e;

	for (; (e = *pp); pp = &e->next)
		if (strlen(e->name) == name->n && !memcmp(e->name, name->p, name->n)) {
			*pp = e->next;
			free(e->name);
			free(e);
			return;
		}
}

/* ---- pending queue ---- */

static struct pending *q_at(struct conn *k, uint32_t i)
{
	return &k->q[(k->qhead + i) & (k->qcap - 1)];	/* qcap: a power of two */
}

static struct pending *q_front(struct conn *k)
{
	return k->qlen ? q_at(k, 0) : NULL;
}

static void q_pop(struct conn *k)
{
	struct pending *p = q_front(k);
	int i;

	if (!p)
		return;
	/* A Parse's parse and a Bind's plan belong to the Execute that follows. */
	if (p->type == 'P' || p->type == 'B')
		for (i = 0; i < STAGE_N; i++)
			k->stage_carry[i] += p->stage[i];
	k->qhead = (k->qhead + 1) & (k->qcap - 1);
	k->qlen--;
}

static void q_push(struct collector *c, struct conn *k, char type, uint32_t fp, uint64_t ts)
{
	struct pending *p;

	if (!k->qlen) {
		k->batch_ts = ts;
		session_busy(c, k, true, ts);
		if (k->role == DBLAT_ROLE_CLIENT && !k->checked_out) {
			k->checked_out = true;
			http_checkout(k, ts);
		}
		if (k->role == DBLAT_ROLE_CLIENT) {
			http_thread_start(c, k, c->cur_tid, ts);
			if (c->proxy_len)
				http_proxy_out(c, k, fp, ts);
		} else if (k->role == DBLAT_ROLE_SERVER && strcmp(k->comm, "postgres")) {
			/* A server that is not a backend: a proxy, whose requests wait to go on. */
			http_proxy_in(c, k, fp, ts);
		}
	}
	if (k->qlen == k->qcap) {
		uint32_t nc = k->qcap ? 2 * k->qcap : 16, i;
		struct pending *n;

		if (nc > MAX_PENDING) {
			/* Answers are not coming (we joined mid-stream): forget the oldest. */
			c->sum->ctr.queue_overflow++;
			q_pop(k);
		} else {
			n = malloc(nc * sizeof(*n));
			if (!n)
				return;
			for (i = 0; i < k->qlen; i++)
				n[i] = *q_at(k, i);
			free(k->q);
			k->q = n;
			k->qcap = nc;
			k->qhead = 0;
		}
	}
	p = q_at(k, k->qlen++);
	/* Field by field: a memset of the whole entry, name buffer and all, was
	 * a twentieth of the consumer's time. */
	p->rows = 0;
	p->error = false;
	memset(p->sqlstate, 0, sizeof(p->sqlstate));
	p->stmt[0] = '\0';
	memset(p->stage, 0, sizeof(p->stage));
	p->type = type;
	p->fp = fp;
	p->ts = ts;
	p->batch_ts = k->batch_ts;
	p->tid = c->cur_tid;
	p->period = k->period;
	p->checkout_ts = k->checkout_ts;
}

static uint32_t fingerprint(struct collector *c, const struct pg_str *sql)
{
	size_t n = dblat_fingerprint(sql->p, sql->n, sql->truncated, c->fpbuf, sizeof(c->fpbuf));

	return summary_intern(c->sum, c->fpbuf, (uint32_t)n);
}

void collector_record(struct collector *c, struct conn *k, const struct done_call *d,
		      const uint64_t *stages)
{
	struct call call = {
		.fp = d->fp,
		.side = k->role == DBLAT_ROLE_SERVER ? SIDE_SERVER : SIDE_CLIENT,
		.comm = k->comm,
		.pid = k->tgid,
		.lat_ns = d->end > d->start ? d->end - d->start : 0,
		.rows = d->rows,
		.error = d->error,
		.sqlstate = d->sqlstate,
		.encrypted = k->fr.s[DBLAT_STREAM_BE].tls,
	};
	struct stmt_stats *st;
	int i;

	st = summary_add_call(c->sum, &call);
	if (stages && st)
		for (i = 0; i < STAGE_N; i++)
			if (stages[i] != UINT64_MAX)
				hist_add(&st->stage[i], stages[i]);
	if (call.side == SIDE_CLIENT) {
		struct series_point *sp = summary_series_at(c->sum, d->end);

		if (sp) {
			sp->calls++;
			sp->errors += d->error;
			hist_add(&sp->lat, call.lat_ns);
		}
	}
	session_call_done(c, k, d);
	labels_call(c, k, call.lat_ns, d->error);
	if (d->fp < c->sum->nfps && c->sum->fps[d->fp]->cls == STMT_RESET)
		k->checked_out = false;
	if (call.side == SIDE_CLIENT && st)
		http_call_done(c, k, d, st);
}

static void complete(struct collector *c, struct conn *k, struct pending *p, uint64_t ts)
{
	struct done_call d = {
		.fp = p->fp,
		.start = p->batch_ts > k->last_done ? p->batch_ts : k->last_done,
		.end = ts,
		.rows = p->rows,
		.error = p->error,
		.tid = p->tid,
		.period = p->period,
		.checkout_ts = p->checkout_ts,
	};

	memcpy(d.sqlstate, p->sqlstate, sizeof(d.sqlstate));
	k->last_done = ts;
	for (int i = 0; i < STAGE_N; i++) {
		uint64_t v = p->stage[i] + k->stage_carry[i] + k->stage_acc[i];

		d.stage[i] = v ? v : UINT64_MAX;
	}
	memset(k->stage_acc, 0, sizeof(k->stage_acc));
	memset(k->stage_carry, 0, sizeof(k->stage_carry));
	if (k->role == DBLAT_ROLE_SERVER) {
		/* The backend said what it ran: name the statement from now on. */
		if (d.fp == c->fp_unknown_stmt && k->has_activity) {
			struct pg_str name = { p->stmt, strlen(p->stmt), false };

			d.fp = k->activity_fp;
			name_set(&k->stmts, &name, d.fp);
		}
		k->has_activity = false;
		collector_record(c, k, &d, d.stage);
		join_server_done(c, k, &d);
		return;
	}
	http_thread_done(c, k, c->cur_tid, ts);
	if (!join_client_done(c, k, &d))
		collector_record(c, k, &d, NULL);
}

/* ---- messages ---- */

static void on_frontend(struct collector *c, struct conn *k, const struct pg_msg *m)
{
	struct pg_str a, b;
	struct name_fp *e;
	uint32_t max_rows;
	char what;

	if (m->kind != PG_MSG_TYPED)
		return;
	switch (m->type) {
	case 'Q':
		if (pg_parse_query(m, &a) == 0)
			q_push(c, k, 'Q', fingerprint(c, &a), m->ts_ns);
		break;
	case 'P':
		if (pg_parse_parse(m, &a, &b) == 0) {
			uint32_t fp = fingerprint(c, &b);

			name_set(&k->stmts, &a, fp);
			q_push(c, k, 'P', fp, m->ts_ns);
		}
		break;
	case 'B':
		if (pg_parse_bind(m, &a, &b) == 0) {
			e = name_find(k->stmts, b.p, b.n);
			name_set(&k->portals, &a, e ? e->fp : c->fp_unknown_stmt);
			q_push(c, k, 'B', e ? e->fp : c->fp_unknown_stmt, m->ts_ns);
			if (!e)
				snprintf(k->last_unknown, sizeof(k->last_unknown), "%.*s",
					 (int)(b.n < 63 ? b.n : 63), b.p);
		}
		break;
	case 'E':
		if (pg_parse_execute(m, &a, &max_rows) == 0) {
			e = name_find(k->portals, a.p, a.n);
			q_push(c, k, 'E', e ? e->fp : c->fp_unknown_stmt, m->ts_ns);
			if (!e || e->fp == c->fp_unknown_stmt)
				memcpy(q_at(k, k->qlen - 1)->stmt, k->last_unknown, sizeof(k->last_unknown));
		}
		break;
	case 'D':
		q_push(c, k, 'D', 0, m->ts_ns);
		break;
	case 'C':
		if (pg_parse_close_describe(m, &what, &a) == 0) {
			if (what == 'S')
				name_del(&k->stmts, &a);
			else
				name_del(&k->portals, &a);
		}
		q_push(c, k, 'C', 0, m->ts_ns);
		break;
	case 'S':
		q_push(c, k, 'S', 0, m->ts_ns);
		break;
	case 'F':
		q_push(c, k, 'F', summary_intern(c->sum, "<function call>", 15), m->ts_ns);
		break;
	default:	/* H, X, d, c, f, p: no answer of their own */
		break;
	}
}

/* An error ends the extended-protocol batch: the server skips to Sync. */
static void on_error(struct collector *c, struct conn *k, const struct pg_msg *m)
{
	struct pg_error er;
	struct pending *p = q_front(k);

	if (!p || pg_parse_error(m, &er) != 0)
		return;
	if (p->type == 'Q') {
		p->error = true;
		memcpy(p->sqlstate, er.sqlstate, sizeof(p->sqlstate));
		return;
	}
	while ((p = q_front(k)) && p->type != 'S') {
		if (p->type == 'E' || p->type == 'P' || p->type == 'B') {
			/* Charge the failure to the statement that failed. */
			bool is_exec = p->type == 'E';
			uint32_t i;

			for (i = 1; !is_exec && i < k->qlen; i++) {
				struct pending *x = q_at(k, i);

				if (x->type == 'S')
					break;
				if (x->type == 'E') {
					p->fp = x->fp;
					break;
				}
			}
			p->error = true;
			memcpy(p->sqlstate, er.sqlstate, sizeof(p->sqlstate));
			complete(c, k, p, m->ts_ns);
			q_pop(k);
			break;
		}
		q_pop(k);
	}
	while ((p = q_front(k)) && p->type != 'S')
		q_pop(k);
}

static bool expect(struct collector *c, struct conn *k, char type)
{
	struct pending *p = q_front(k);

	if (p && p->type == type)
		return true;
	c->sum->ctr.unmatched++;
	return false;
}

static void on_backend(struct collector *c, struct conn *k, const struct pg_msg *m)
{
	struct pending *p = q_front(k);
	struct pg_str tag;
	uint64_t rows = 0;
	char st;

	if (m->kind != PG_MSG_TYPED)
		return;
	switch (m->type) {
	case '1':
		if (expect(c, k, 'P'))
			q_pop(k);
		break;
	case '2':
		if (expect(c, k, 'B'))
			q_pop(k);
		break;
	case '3':
		if (expect(c, k, 'C'))
			q_pop(k);
		break;
	case 'T':
	case 'n':
		if (p && p->type == 'D')
			q_pop(k);
		break;
	case 'D':
		if (p && (p->type == 'Q' || p->type == 'E'))
			p->rows += m->count;
		break;
	case 'C':
	case 'I':
	case 's':
		if (m->type == 'C' && pg_parse_command_complete(m, &tag, &rows) != 0)
			rows = 0;
		if (!p) {
			c->sum->ctr.unmatched++;
			break;
		}
		if (p->type == 'Q') {
			if (rows > p->rows)
				p->rows = rows;
		} else if (p->type == 'E') {
			if (rows > p->rows)
				p->rows = rows;
			complete(c, k, p, m->ts_ns);
			q_pop(k);
		} else {
			c->sum->ctr.unmatched++;
		}
		break;
	case 'E':
		on_error(c, k, m);
		break;
	case 'V':
		if (expect(c, k, 'F')) {
			complete(c, k, p, m->ts_ns);
			q_pop(k);
		}
		break;
	case 'Z':
		if (pg_parse_ready(m, &st) == 0) {
			/* A transaction ended: the pool has the connection back. */
			if (st == 'I' && (k->txn == 'T' || k->txn == 'E'))
				k->checked_out = false;
			k->txn = st;
		}
		/* Anything still queued before the Sync/Query was never answered. */
		while ((p = q_front(k)) && p->type != 'S' && p->type != 'Q') {
			c->sum->ctr.unmatched++;
			q_pop(k);
		}
		if (p) {
			if (p->type == 'Q')
				complete(c, k, p, m->ts_ns);
			q_pop(k);
		}
		if (!k->checked_out && k->role == DBLAT_ROLE_CLIENT)
			http_period_maybe_over(c, k);
		break;
	default:	/* R S K N A t G H W c d v: no request to settle */
		break;
	}
}

static void on_msg(void *ctx, const struct pg_msg *m)
{
	void **a = ctx;
	struct collector *c = a[0];
	struct conn *k = a[1];

	session_msg(c, k, m);
	if (m->stream == DBLAT_STREAM_FE) {
		on_frontend(c, k, m);
	} else {
		on_backend(c, k, m);
		if (!k->qlen)
			session_busy(c, k, false, m->ts_ns);
	}
}

static void on_data(struct collector *c, const struct dblat_event *ev, size_t size)
{
	struct conn *k = conn_find(c, ev->conn_id);
	size_t pad = dblat_data_pad(ev->cap_len);
	const uint8_t *data = (const uint8_t *)(ev + 1);
	const struct dblat_tail_rec *recs = (const void *)(data + pad);
	void *ctx[2];

	if (sizeof(*ev) + pad + (size_t)ev->nrec * sizeof(*recs) > size || ev->nrec > DBLAT_TAIL_RECS)
		return;
	if (!k)
		k = conn_new(c, ev, 0);
	if (!k || k->dead)
		return;
	if (ev->flags & DBLAT_F_TLS)
		tls_on_cipher(c, k, ev, data);
	ctx[0] = c;
	ctx[1] = k;
	c->cur_tid = ev->tid;
	c->cur_offcpu = ev->flags & DBLAT_F_OFFCPU ? (int64_t)ev->offcpu_us : -1;
	if (pg_framer_feed(&k->fr, ev, data, recs, on_msg, ctx) < 0) {
		k->dead = true;
		c->sum->ctr.conns_not_pg++;
		if (c->reject)
			c->reject(c->reject_ctx, k->tgid, k->fd);
	}
}

/* Plaintext of an encrypted connection, bound to it by tls.c. */
void collector_feed(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data)
{
	void *ctx[2] = { c, k };

	if (k->dead)
		return;
	c->cur_tid = ev->tid;
	c->cur_offcpu = -1;
	pg_framer_feed(&k->fr, ev, data, NULL, on_msg, ctx);
}

struct conn *collector_conn(struct collector *c, uint64_t id)
{
	return conn_find(c, id);
}

/* A call open on k was cut (its answer went by unseen), and so is any transaction: forget them. */
static void conn_cut(struct collector *c, struct conn *k, uint64_t ts)
{
	uint32_t j;

	for (j = 0; j < k->qlen; j++) {
		char t = q_at(k, j)->type;

		c->sum->sample_cut += t == 'Q' || t == 'E' || t == 'F';
	}
	k->qlen = 0;
	k->qhead = 0;
	session_cut(c, k, ts);
	pg_framer_lose(&k->fr);
}

/*
 * The data hooks were detached until ts (a window opened after them, or
 * every call is traced again): calls still open when they were are cut.
 * With only_encrypted, windows begin: encrypted connections, whose calls
 * cannot be let out whole, are not traced from now.
 */
static void conns_cut(struct collector *c, uint64_t ts, bool only_encrypted)
{
	struct conn *k;
	uint32_t i;

	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = k->next) {
			if (k->role != DBLAT_ROLE_CLIENT && k->role != DBLAT_ROLE_SERVER)
				continue;
			if (only_encrypted && !k->fr.s[DBLAT_STREAM_BE].tls)
				continue;
			conn_cut(c, k, ts);
		}
}

static void windows_begin(struct collector *c)
{
	c->windows_now = c->windows_ever = true;
}

static void on_window(struct collector *c, const struct dblat_window *w)
{
	struct summary *s = c->sum;

	if (w->full_cost_ppm) {
		s->full_cost = w->full_cost_ppm / 1e6;
		if (s->full_cost > s->full_cost_peak)
			s->full_cost_peak = s->full_cost;
	}
	if (w->peak_cost_ppm / 1e6 > s->full_cost_peak)
		s->full_cost_peak = w->peak_cost_ppm / 1e6;
	if (!w->start_ns && !w->end_ns) {
		s->sample_period_ms = w->period_ms;
		s->budget_pct = w->budget_ppm / 1e4;
		if (w->budget_ppm) {
			/* Every call is traced from the run's start (0, unknown, in a synthetic replay: none counted). */
			s->full_since = s->start_ns;
			return;
		}
		s->sample_pct = s->sample_pct_max = w->percent;
		windows_begin(c);
	} else if (!w->end_ns) {
		if (w->flags & DBLAT_WIN_HELD)
			s->budget_held = true;
		if (w->flags & DBLAT_WIN_REOPENED)
			conns_cut(c, w->start_ns, false);
		if (w->percent == 100) {
			c->windows_now = false;
			if (!s->full_since)
				s->full_since = w->start_ns;
		}
	} else if (w->end_ns > w->start_ns && w->percent == 100) {
		/* Every call was traced until end: windows from now (over the budget). */
		s->full_ns += w->end_ns - w->start_ns;
		s->full_since = 0;
		if (!s->budget_over_at)
			s->budget_over_at = w->end_ns;
		conns_cut(c, w->end_ns, true);
		windows_begin(c);
	} else if (w->end_ns > w->start_ns) {
		s->sampled_ns += w->end_ns - w->start_ns;
		s->sample_windows++;
		if (!s->sample_pct || w->percent < s->sample_pct)
			s->sample_pct = w->percent;
		if (w->percent > s->sample_pct_max)
			s->sample_pct_max = w->percent;
	}
}

int collector_handle(struct collector *c, const void *data, size_t size)
{
	const struct dblat_event *ev = data;
	struct conn *k;

	if (size < sizeof(*ev))
		return -1;
	c->sum->ctr.received++;
	switch (ev->kind) {
	case DBLAT_EV_DATA:
		on_data(c, ev, size);
		break;
	case DBLAT_EV_CONN:
		k = conn_find(c, ev->conn_id);
		if (!k)
			k = conn_new(c, ev, size);
		if (k && k->role != DBLAT_ROLE_HTTP && size >= sizeof(*ev) + sizeof(struct dblat_conn_info)) {
			session_conn_info(c, k);
			join_conn_info(c, k);
		}
		break;
	case DBLAT_EV_CLOSE:
		if ((k = conn_find(c, ev->conn_id)) && ev->conn_id) {
			k->sess.close_unseen = ev->flags & DBLAT_F_CLOSE_UNSEEN;
			conn_drop(c, ev->conn_id, ev->ts_ns);
		} else {
			session_on_unadopted_close(c, ev);
		}
		break;
	case DBLAT_EV_EOF:
		k = conn_find(c, ev->conn_id);
		if (k && k->role == DBLAT_ROLE_HTTP)
			http_peer_gone(k, ev->ret != 0 || (ev->flags & DBLAT_F_PEER_CLOSED));
		if (k)
			session_end(c, k, ev->ts_ns, true);
		break;
	case DBLAT_EV_EXIT:
		drop_process(c, ev->tgid, ev->ts_ns);
		break;
	case DBLAT_EV_CONNECT:
		session_on_connect(c, ev, size);
		break;
	case DBLAT_EV_HTTP:
		k = conn_find(c, ev->conn_id);
		if (!k)
			k = conn_new(c, ev, 0);
		if (k)
			http_on_event(c, k, ev, size);
		break;
	case DBLAT_EV_STAGE:
		stages_on_event(c, ev, size);
		break;
	case DBLAT_EV_TLS_DATA:
		tls_on_plaintext(c, ev, size);
		break;
	case DBLAT_EV_ACTIVITY:
		k = conn_find(c, ev->conn_id);
		if (k && ev->cap_len && size >= sizeof(*ev) + ev->cap_len) {
			struct pg_str sql = { (const char *)(ev + 1), ev->cap_len, ev->cap_len >= DBLAT_ACTIVITY_MAX - 1 };

			k->activity_fp = fingerprint(c, &sql);
			k->has_activity = true;
		}
		break;
	case DBLAT_EV_ACCEPT:
		session_on_accept(c, ev, size);
		break;
	case DBLAT_EV_FORK:
		session_on_fork(c, ev);
		break;
	case DBLAT_EV_TCP_STATE:
		session_on_tcp_state(c, ev, size);
		break;
	case DBLAT_EV_WINDOW:
		if (size < sizeof(*ev) + sizeof(struct dblat_window))
			return -1;
		on_window(c, (const struct dblat_window *)(ev + 1));
		break;
	default:
		return -1;
	}
	return 0;
}

void collector_finish(struct collector *c, uint64_t ts)
{
	uint32_t i;
	struct conn *k;

	/* Under a budget, a stretch of every call lasts to the end. */
	if (c->sum->full_since && ts > c->sum->full_since) {
		c->sum->full_ns += ts - c->sum->full_since;
		c->sum->full_since = 0;
	}

	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = k->next)
			tls_conn_end(c, k);
	/* Client calls still waiting for their server half are counted alone. */
	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = k->next)
			if (k->role == DBLAT_ROLE_CLIENT && k->done_len)
				join_conn_end(c, k);
			else if (k->role == DBLAT_ROLE_HTTP)
				http_conn_end(c, k, false);
	for (i = 0; i < CONN_HASH; i++)
		for (k = c->hash[i]; k; k = k->next)
			http_period_over(c, k);
	http_finish(c);
	session_finish(c, ts);
}
