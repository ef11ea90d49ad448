// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * HTTP/1.x requests on the server side of traced processes, and the pool
 * queue wait derived from them.
 *
 * A request starts with the read that carries its request line and ends
 * with the last write before the next request (or the close): keep-alive
 * and pipelining both keep that order on one connection.
 *
 * Which request each statement belongs to, and the pool wait of event-loop
 * apps, are worked out in reqbind.c; this file feeds it: requests and their
 * response writes, each client statement, and the periods a pooled
 * connection spends checked out (from the first statement after the pool
 * got it back, its transaction ended or a reset ran, to that return).
 *
 * In a thread-per-request client the wait is on the thread itself: the time
 * between a thread's previous statement completing and its next one being
 * sent, on whichever connection, is its checkout wait plus its own work in
 * between (thread_gap); the part of it the thread spent off CPU is the wait
 * (thread_wait), once the process is seen handing a connection from thread
 * to thread and context switches are timed for it.
 *
 * A proxy such as pgbouncer is a server to its clients and a client of the
 * real server, in one process: a request it reads waits in its queue until
 * it writes the same statement to a server connection (proxy_wait; matched
 * by fingerprint, oldest first, as pgbouncer serves its waiting clients).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "conn.h"
#include "http.h"
#include "fingerprint.h"

#define MAX_PENDING_REQ 64

struct http_req {
	uint64_t handle;	/* in reqbind */
	uint64_t arrival;
	uint64_t last_send;
	uint32_t route;		/* index in summary routes */
	uint16_t status;
	bool unread;		/* the client had gone: it reset the connection, or closed before it was written */
};

struct http_conn {
	struct http_req q[MAX_PENDING_REQ];
	uint32_t head, len;
	bool orphan;		/* writing a response to a request read before tracing began */
};

/* Numbers, hex ids and UUIDs in a path become :id, so routes aggregate. */
static void route_template(const char *p, size_t n, char *out, size_t outsz)
{
	size_t i = 0, o = 0;

	while (i < n && p[i] != '?' && p[i] != '#' && o + 4 < outsz) {
		size_t j = i, digits = 0, hex = 0;

		if (p[i] == '/') {
			out[o++] = '/';
			i++;
			continue;
		}
		while (j < n && p[j] != '/' && p[j] != '?' && p[j] != '#') {
			digits += isdigit((unsigned char)p[j]) != 0;
			hex += isxdigit((unsigned char)p[j]) != 0 || p[j] == '-';
			j++;
		}
		if ((digits == j - i) || (hex == j - i && j - i >= 8 && digits > 0)) {
			memcpy(out + o, ":id", 3);
			o += 3;
		} else {
			size_t k;

			for (k = i; k < j && o + 1 < outsz; k++)
				out[o++] = isprint((unsigned char)p[k]) ? p[k] : '?';
		}
		i = j;
	}
	if (!o)
		out[o++] = '/';
	out[o] = 0;
}

static uint32_t route_id(struct summary *s, uint32_t tgid, const char *comm, const char *method,
			 const char *tmpl)
{
	uint32_t i;
	struct route_stats *r;

	for (i = 0; i < s->nroutes; i++)
		if (s->routes[i].tgid == tgid && !strcmp(s->routes[i].method, method) &&
		    !strcmp(s->routes[i].route, tmpl))
			return i;
	r = realloc(s->routes, (s->nroutes + 1) * sizeof(*r));
	if (!r)
		return UINT32_MAX;
	s->routes = r;
	r = &r[s->nroutes];
	memset(r, 0, sizeof(*r));
	r->tgid = tgid;
	snprintf(r->comm, sizeof(r->comm), "%s", comm);
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->route, sizeof(r->route), "%s", tmpl);
	return s->nroutes++;
}

static void finish_req(struct collector *c, struct conn *k, struct http_req *q)
{
	struct summary *s = c->sum;
	struct route_stats *r;
	struct pool_stats *p;
	uint32_t i;

	if (q->route < s->nroutes && !q->status)
		s->routes[q->route].no_response++;
	if (q->route >= s->nroutes || !q->last_send) {
		reqbind_done(c->rb, k->tgid, q->handle);
		return;
	}
	r = &s->routes[q->route];
	r->count++;
	r->unread += q->unread;
	hist_add(&r->lat, q->last_send > q->arrival ? q->last_send - q->arrival : 0);
	for (i = 0; i < r->nstatus; i++)
		if (r->status[i].code == q->status)
			break;
	if (i == r->nstatus && r->nstatus < ROUTE_STATUS_MAX)
		r->status[r->nstatus++].code = q->status;
	if (i < ROUTE_STATUS_MAX)
		r->status[i].n++;
	reqbind_done(c->rb, k->tgid, q->handle);
	p = summary_pool(s, k->tgid, k->comm);
	if (!p)
		return;
	p->requests++;
	if (q->status == 503 || q->status == 504) {
		p->timed_out++;
		hist_add(&p->timed_out_wait, q->last_send - q->arrival);
	}
}

static struct http_conn *hc_of(struct conn *k)
{
	if (!k->http)
		k->http = calloc(1, sizeof(struct http_conn));
	return k->http;
}

static void on_request(struct collector *c, struct conn *k, const char *d, size_t n, uint64_t ts,
		       uint32_t tid)
{
	struct http_conn *h = hc_of(k);
	const char *sp, *sp2, *end = d + n;
	char method[12], tmpl[96];

	if (!h)
		return;
	while (d < end) {
		sp = memchr(d, ' ', end - d);
		if (!sp || sp - d >= (long)sizeof(method))
			break;
		sp2 = memchr(sp + 1, ' ', end - sp - 1);
		if (!sp2)
			sp2 = end;
		snprintf(method, sizeof(method), "%.*s", (int)(sp - d), d);
		route_template(sp + 1, sp2 - sp - 1, tmpl, sizeof(tmpl));
		if (h->len == MAX_PENDING_REQ) {
			h->head = (h->head + 1) % MAX_PENDING_REQ;
			h->len--;
		}
		{
			struct http_req *q = &h->q[(h->head + h->len++) % MAX_PENDING_REQ];

			memset(q, 0, sizeof(*q));
			q->arrival = ts;
			q->route = route_id(c->sum, k->tgid, k->comm, method, tmpl);
			if (q->route != UINT32_MAX)
				q->handle = reqbind_arrival(c->rb, k->tgid, k->comm, k->id, tid, q->route, ts);
		}
		/* A pipelined request follows the blank line that ends the headers. */
		sp = memmem(sp2, end - sp2, "\r\n\r\n", 4);
		if (!sp)
			break;
		d = sp + 4;
		if (end - d < 8 || !isupper((unsigned char)*d))
			break;
	}
}

/* The response at the head is complete once something else happens on the connection. */
static void settle(struct collector *c, struct conn *k)
{
	struct http_conn *h = k->http;

	while (h && h->len && h->q[h->head].status) {
		finish_req(c, k, &h->q[h->head]);
		h->head = (h->head + 1) % MAX_PENDING_REQ;
		h->len--;
		if (h->len && h->q[h->head].status)
			continue;
		break;
	}
}

void http_on_event(struct collector *c, struct conn *k, const struct dblat_event *ev, size_t size)
{
	const char *d = (const char *)(ev + 1);
	struct http_conn *h;
	bool status_line;
	uint32_t i;

	if (size < sizeof(*ev) + ev->cap_len)
		return;
	if (ev->dir == DBLAT_DIR_RECV) {
		if (!ev->cap_len)
			return;
		settle(c, k);
		on_request(c, k, d, ev->cap_len, ev->ts_ns, ev->tid);
		return;
	}
	h = hc_of(k);
	if (!h)
		return;
	/* BPF copies a write's bytes only when they start with a status line: else it is more body. */
	status_line = ev->cap_len >= 12 && !memcmp(d, "HTTP/", 5);
	if (!h->len) {
		/* Its request was read before tracing began (or it is a stray write). */
		if (status_line || h->orphan)
			reqbind_orphan_write(c->rb, k->tgid, k->comm, k->id, ev->ts_ns, status_line);
		h->orphan = h->orphan || status_line;
		return;
	}
	h->orphan = false;
	if (status_line) {
		/* A new status line: the previous response (if any) is over. */
		for (i = 0; i < h->len; i++) {
			struct http_req *q = &h->q[(h->head + i) % MAX_PENDING_REQ];

			if (!q->status) {
				q->status = (uint16_t)atoi(d + 9);
				if (!q->status)
					q->status = 1;
				q->last_send = ev->ts_ns;
				q->unread = ev->flags & DBLAT_F_PEER_CLOSED;
				reqbind_response(c->rb, k->tgid, q->handle, ev->tid, ev->ts_ns, q->status);
				break;
			}
		}
		/* Responses before this one are complete. */
		while (h->len > 1 && h->q[h->head].status && h->q[(h->head + 1) % MAX_PENDING_REQ].status) {
			finish_req(c, k, &h->q[h->head]);
			h->head = (h->head + 1) % MAX_PENDING_REQ;
			h->len--;
		}
		return;
	}
	/* A body write: the response in progress goes on. */
	for (i = h->len; i-- > 0;) {
		struct http_req *q = &h->q[(h->head + i) % MAX_PENDING_REQ];

		if (q->status) {
			q->last_send = ev->ts_ns;
			reqbind_response(c->rb, k->tgid, q->handle, ev->tid, ev->ts_ns, 0);
			break;
		}
	}
}

void http_peer_gone(struct conn *k, bool lost)
{
	struct http_conn *h = k->http;
	uint32_t i;

	if (!h || !lost)
		return;
	/*
	 * A client that closes with data unread makes its kernel answer with a
	 * reset: the last response written did not reach it (a client timeout,
	 * or a load generator's deadline). So did one still unacknowledged at
	 * the client's FIN. A response written after that FIN is marked as it
	 * is written (DBLAT_F_PEER_CLOSED).
	 */
	for (i = h->len; i-- > 0;) {
		struct http_req *q = &h->q[(h->head + i) % MAX_PENDING_REQ];

		if (q->status) {
			q->unread = true;
			break;
		}
	}
}

void http_conn_end(struct collector *c, struct conn *k, bool closed)
{
	struct http_conn *h = k->http;

	while (h && h->len) {
		struct http_req *q = &h->q[h->head];

		if (closed || q->status)
			finish_req(c, k, q);
		else
			reqbind_done(c->rb, k->tgid, q->handle);	/* still in flight when tracing ended */
		h->head = (h->head + 1) % MAX_PENDING_REQ;
		h->len--;
	}
	free(h);
	k->http = NULL;
}

void http_checkout(struct conn *k, uint64_t ts)
{
	if (!++k->period)
		k->period = 1;
	k->checkout_ts = ts;
}

/* ROLLBACK (not to a savepoint) and reset statements hand a pooled connection back. */
static bool hands_back(const struct summary *s, const struct stmt_stats *st)
{
	const char *t;

	if (st->fp >= s->nfps)
		return false;
	if (s->fps[st->fp]->cls == STMT_RESET)
		return true;
	t = s->fps[st->fp]->text;
	return !strncasecmp(t, "ROLLBACK", 8) && strncasecmp(t, "ROLLBACK TO", 11);
}

/* Is a statement of the period still on its way (queued, or waiting for its server half)? */
static bool period_in_flight(const struct conn *k, uint32_t period)
{
	uint32_t i;

	for (i = 0; i < k->done_len; i++)
		if (k->done[(k->done_head + i) % JOIN_MAX].period == period)
			return true;
	for (i = 0; i < k->qlen; i++)
		if (k->q[(k->qhead + i) % k->qcap].period == period)
			return true;
	return false;
}

void http_period_over(struct collector *c, struct conn *k)
{
	if (!k->bag || !k->bag->id)
		return;
	reqbind_period(c->rb, k->tgid, k->bag);
	k->bag->id = 0;
	k->bag->n = k->bag->overflow = 0;
}

void http_period_maybe_over(struct collector *c, struct conn *k)
{
	if (k->bag && k->bag->id && (k->bag->id != k->period || !k->checked_out) &&
	    !period_in_flight(k, k->bag->id))
		http_period_over(c, k);
}

void http_call_done(struct collector *c, struct conn *k, const struct done_call *d, struct stmt_stats *st)
{
	struct rb_stmt x = { st, d->start, d->end, hands_back(c->sum, st) };
	struct rb_period *b;

	reqbind_thread_call(c->rb, k->tgid, d->tid, &x);
	if (!d->period || !reqbind_serves_http(c->rb, k->tgid))
		return;
	if (k->bag && k->bag->id && k->bag->id != d->period)
		http_period_over(c, k);
	if (!k->bag && !(k->bag = calloc(1, sizeof(*k->bag))))
		return;
	b = k->bag;
	if (!b->id) {
		b->id = d->period;
		b->checkout_ts = d->checkout_ts;
	}
	if (b->n < RB_PERIOD_STMTS)
		b->v[b->n++] = x;
	else
		b->overflow++;
	http_period_maybe_over(c, k);
}

void http_finish(struct collector *c)
{
	reqbind_finish(c->rb);
}

static uint32_t thread_slot(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 40) & (CONN_HASH - 1);
}

void http_thread_done(struct collector *c, struct conn *k, uint32_t tid, uint64_t ts)
{
	uint64_t key = ((uint64_t)k->tgid << 32) | tid;
	uint32_t i = thread_slot(key);

	/* Sampled: a thread's statements between windows are unseen, its gaps unknown. */
	if (c->windows_now)
		return;
	c->threads[i].key = key;
	c->threads[i].done = ts;
	c->threads[i].done_offcpu = c->cur_offcpu;
}

void http_thread_start(struct collector *c, struct conn *k, uint32_t tid, uint64_t ts)
{
	uint64_t key = ((uint64_t)k->tgid << 32) | tid;
	uint32_t i = thread_slot(key);
	struct pool_stats *p;

	if (c->threads[i].key != key || !c->threads[i].done || ts < c->threads[i].done)
		return;
	p = summary_pool(c->sum, k->tgid, k->comm);
	if (p) {
		uint64_t gap = ts - c->threads[i].done;

		hist_add(&p->thread_gap, gap);
		if (c->threads[i].done_offcpu >= 0 && c->cur_offcpu >= 0) {
			/* A clock in us modulo 2^32; its reading at a send is at the send's return. */
			uint64_t slept = (uint32_t)(c->cur_offcpu - c->threads[i].done_offcpu) * 1000ull;

			hist_add(&p->thread_wait, slept < gap ? slept : gap);
		}
	}
	c->threads[i].done = 0;
}

void http_proxy_in(struct collector *c, struct conn *k, uint32_t fp, uint64_t ts)
{
	struct proxy_arrival *a;

	if (!c->proxy) {
		c->proxy = calloc(PROXY_MAX, sizeof(*c->proxy));
		if (!c->proxy)
			return;
	}
	if (c->proxy_len == PROXY_MAX) {
		c->proxy_head = (c->proxy_head + 1) % PROXY_MAX;
		c->proxy_len--;
	}
	a = &c->proxy[(c->proxy_head + c->proxy_len++) % PROXY_MAX];
	a->tgid = k->tgid;
	a->fp = fp;
	a->ts = ts;
}

void http_proxy_out(struct collector *c, struct conn *k, uint32_t fp, uint64_t ts)
{
	uint32_t i, n = c->proxy_len;
	struct pool_stats *p;

	for (i = 0; i < n; i++) {
		struct proxy_arrival *a = &c->proxy[(c->proxy_head + i) % PROXY_MAX];

		if (a->tgid != k->tgid || a->fp != fp || a->ts > ts)
			continue;
		p = summary_pool(c->sum, k->tgid, k->comm);
		if (p)
			hist_add(&p->proxy_wait, ts - a->ts);
		/* Close the gap: move the entries before it up by one. */
		for (; i > 0; i--)
			c->proxy[(c->proxy_head + i) % PROXY_MAX] = c->proxy[(c->proxy_head + i - 1) % PROXY_MAX];
		c->proxy_head = (c->proxy_head + 1) % PROXY_MAX;
		c->proxy_len--;
		return;
	}
}
