// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Which HTTP request each statement of a traced server belongs to, and how
 * long each request waited for a pooled connection.
 *
 * Thread-per-request servers (exact): a request read on thread T and
 * answered on thread T owns the statements T sent between its arrival and
 * its last response write. A process is taken for one once no thread ever
 * read a request while another connection's request on that thread was
 * still unanswered; the first time that happens it is an event loop.
 *
 * Event loops (one thread serves every request): everything a pooled
 * connection runs between its checkout and its return belongs to one
 * request, the one whose response fits the period best. An app that
 * releases the connection after responding (FastAPI's dependency teardown)
 * writes the response between the end of the period's last statement and
 * its reset, just before the reset goes out; an app that releases first
 * (a 401 raised in a dependency) writes it soon after the reset is done.
 * Periods are decided in batches once they ended a while ago: every
 * pending period and every response that could be its are paired
 * greedily, nearest first (a response before a reset counting as nearer
 * than one after), so a response goes to the period it fits best and not
 * to whichever period was decided first. Candidates arrived before the
 * checkout and are not matched yet; 503/504 answers never checked out.
 * Checked against an app's own log of which request used which
 * connection: 98.6% of periods right with 10% of requests releasing
 * first, where taking the latest response in each period's window, period
 * by period, got 80%.
 * Matching replaces pairing the k-th arrival with the k-th checkout:
 * SQLAlchemy's async pool lets a newcomer barge in ahead of a woken waiter,
 * so checkouts are not first come, first served, and that pairing smooths
 * the percentiles away. It stays as the fallback for periods no response
 * could be found for.
 *
 * Requests read before tracing began still have their responses written
 * afterwards: those writes are anchors too, so their checkouts are counted
 * as unseen instead of taking a traced request's place.
 *
 * Memory is bounded: a ring of recent requests and one of undecided periods
 * per process; what falls out of them is counted in pool.given_up.
 */
#include <stdlib.h>
#include <string.h>
#include "reqbind.h"

#define RB_REQS_MIN 1024	/* requests kept per process, at first */
#define RB_REQS_MAX 65536	/* ... and at most: a pool wait can outlast thousands of arrivals */
#define RB_PENDING 256		/* periods waiting for a decision, and unanchored ones */
#define RB_THREADS 4096
#define RB_REQ_STMTS 64		/* statements kept per request */
#define RB_HORIZON_NS 2000000000ull	/* a response stays a candidate anchor at least this long */
#define RB_STALE_NS (4 * RB_HORIZON_NS)	/* a response this much older than a period cannot be its anchor */
#define RB_SETTLE_NS 50000000ull	/* a period is decided this long after it ended ... */
#define RB_BATCH_NS 10000000ull		/* ... in batches at most this often */
#define RB_AFTER_NS 250000000ull	/* an answer written after the reset: at most this long after */
#define RB_AFTER_WEIGHT 4		/* ... and that far counts as this much farther than one before it */
#define RB_NONE UINT32_MAX		/* no response chosen */
#define RB_STAMP_SLACK_NS 1000000ull	/* how early a send's start stamp can be */
#define RB_FAR_WEIGHT 16		/* one before the period's last statement ended, or during its reset */
#define RB_ORPHANS 256		/* recent responses to requests read before tracing began */

enum {
	RQ_RESPONDED = 1,	/* a status line was written */
	RQ_DONE = 2,		/* the response is complete */
	RQ_MATCHED = 4,		/* a checkout period was matched to it */
	RQ_ACCOUNTED = 8,	/* its figures are in its route */
	RQ_UNANSWERED = 16,	/* over without a response (its client left, or tracing ended) */
};

struct rb_req {
	uint32_t gen;		/* 0: free slot */
	uint32_t route;
	uint64_t conn;
	uint64_t arrival, last_send, checkout_ts;
	uint64_t respond_ts;	/* its status line's write: the anchor */
	uint32_t reader, writer;	/* threads */
	uint16_t status;
	uint8_t flags;
	uint8_t method;		/* enum bind_method */
	struct rb_stmt *v;	/* its statements */
	uint32_t n, cap;
};

struct rb_ring {
	struct rb_period *v;	/* RB_PENDING */
	uint32_t head, len;
};

struct rb_proc {
	uint32_t tgid;
	char comm[DBLAT_COMM_LEN];
	bool event_loop;
	uint32_t gen, next_slot;
	struct rb_req *req;		/* a ring of nreq recent requests */
	uint32_t nreq;
	uint64_t *cand;			/* handles of responded, unmatched requests: anchors */
	uint32_t ncand, cand_cap;
	struct rb_ring pending;		/* periods to decide, oldest first */
	struct rb_ring unanchored;	/* periods for the FIFO fallback */
	struct rb_orphan {
		uint64_t conn, respond_ts;
	} orphan[RB_ORPHANS];		/* a ring: their writes are anchors too */
	uint32_t norphans;
	uint64_t next_try;		/* the oldest pending period cannot be decided before */
};

struct rb_thread {
	uint64_t key;		/* tgid << 32 | tid */
	uint64_t h;		/* the last request it read */
};

struct reqbind {
	struct summary *s;
	struct rb_proc **procs;
	uint32_t nprocs;
	struct rb_proc *last;
	struct rb_thread threads[RB_THREADS];
};

struct reqbind *reqbind_new(struct summary *s)
{
	struct reqbind *rb = calloc(1, sizeof(*rb));

	if (rb)
		rb->s = s;
	return rb;
}

void reqbind_free(struct reqbind *rb)
{
	uint32_t i, j;

	if (!rb)
		return;
	for (i = 0; i < rb->nprocs; i++) {
		for (j = 0; j < rb->procs[i]->nreq; j++)
			free(rb->procs[i]->req[j].v);
		free(rb->procs[i]->req);
		free(rb->procs[i]->cand);
		free(rb->procs[i]->pending.v);
		free(rb->procs[i]->unanchored.v);
		free(rb->procs[i]);
	}
	free(rb->procs);
	free(rb);
}

static struct rb_proc *proc_find(struct reqbind *rb, uint32_t tgid)
{
	uint32_t i;

	if (rb->last && rb->last->tgid == tgid)
		return rb->last;
	for (i = 0; i < rb->nprocs; i++)
		if (rb->procs[i]->tgid == tgid)
			return rb->last = rb->procs[i];
	return NULL;
}

static struct rb_proc *proc_get(struct reqbind *rb, uint32_t tgid, const char *comm)
{
	struct rb_proc *p = proc_find(rb, tgid), **v;

	if (p)
		return p;
	v = realloc(rb->procs, (rb->nprocs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	rb->procs = v;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->req = calloc(RB_REQS_MIN, sizeof(*p->req));
	if (!p->req) {
		free(p);
		return NULL;
	}
	p->nreq = RB_REQS_MIN;
	p->tgid = tgid;
	snprintf(p->comm, sizeof(p->comm), "%s", comm);
	rb->procs[rb->nprocs++] = p;
	return rb->last = p;
}

static struct pool_stats *pool(struct reqbind *rb, struct rb_proc *p)
{
	return summary_pool(rb->s, p->tgid, p->comm);
}

static void given_up(struct reqbind *rb, struct rb_proc *p)
{
	struct pool_stats *ps = pool(rb, p);

	if (ps)
		ps->given_up++;
}

static struct rb_req *req_of(struct rb_proc *p, uint64_t h)
{
	struct rb_req *q;

	if (!p || !h)
		return NULL;
	if ((uint32_t)h >= p->nreq)
		return NULL;
	q = &p->req[(uint32_t)h];
	return q->gen == (uint32_t)(h >> 32) ? q : NULL;
}

static struct rb_thread *thread_of(struct reqbind *rb, uint32_t tgid, uint32_t tid)
{
	uint64_t key = ((uint64_t)tgid << 32) | tid;

	return &rb->threads[((key * 0x9e3779b97f4a7c15ull) >> 40) % RB_THREADS];
}

static bool timed_out(const struct rb_req *q)
{
	return q->status == 503 || q->status == 504;
}

static uint64_t span(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

/* ---- a route's figures ---- */

/* after_ns: the part of ns after the request's response was written */
static void route_stmt_add(struct route_stats *r, struct stmt_stats *st, uint64_t ns, uint64_t after_ns)
{
	struct route_stmt *v;
	uint32_t i;

	for (i = 0; i < r->nper_stmt; i++)
		if (r->per_stmt[i].st == st)
			break;
	if (i == r->nper_stmt) {
		v = realloc(r->per_stmt, (r->nper_stmt + 1) * sizeof(*v));
		if (!v)
			return;
		r->per_stmt = v;
		memset(&v[r->nper_stmt++], 0, sizeof(*v));
		v[i].st = st;
	}
	r->per_stmt[i].calls++;
	r->per_stmt[i].ns += ns;
	if (after_ns == ns && ns)
		r->per_stmt[i].after_calls++;
	r->per_stmt[i].after_ns += after_ns;
	st->bound_calls++;
	st->bound_ns += ns;
}

static void req_clear(struct rb_req *q)
{
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}

static void account(struct reqbind *rb, struct rb_req *q)
{
	struct route_stats *r;
	uint64_t lat, db = 0, after = 0, before = 0, wait = 0, used;
	uint32_t i;

	if (q->flags & (RQ_ACCOUNTED | RQ_UNANSWERED) || q->route >= rb->s->nroutes)
		return;
	q->flags |= RQ_ACCOUNTED;
	r = &rb->s->routes[q->route];
	lat = span(q->arrival, q->last_send);
	/*
	 * Pool wait, the statements inside [arrival, response] and the app's
	 * own time partition the latency. An app that releases its connection
	 * after responding (a reset ROLLBACK) holds it past the request's end:
	 * that time is the request's database work but not part of its latency.
	 * A request read up to RB_STAMP_SLACK_NS after its checkout's stamp has
	 * that much statement time before it arrived: not in its latency either.
	 */
	for (i = 0; i < q->n; i++) {
		uint64_t s = q->v[i].start, e = q->v[i].end;
		uint64_t ns = span(s, e);
		uint64_t past = span(s > q->last_send ? s : q->last_send, e);
		uint64_t early = span(s, e < q->arrival ? e : q->arrival);

		db += ns;
		after += past;
		before += early;
		route_stmt_add(r, q->v[i].st, ns, past);
	}
	if (q->method != BIND_EXACT_THREAD) {
		wait = span(q->arrival, q->checkout_ts);
		hist_add(&r->pool_wait, wait);
	}
	used = db - after - before + wait;
	r->attributed[q->method]++;
	hist_add(&r->db, db);
	hist_add(&r->after, after);
	hist_add(&r->before, before);
	hist_add(&r->stmts, q->n);
	hist_add(&r->app, lat > used ? lat - used : 0);
	req_clear(q);
}

static void req_push(struct reqbind *rb, struct rb_proc *p, struct rb_req *q, const struct rb_stmt *x)
{
	if (q->n == q->cap) {
		uint32_t nc = q->cap ? 2 * q->cap : 4;
		struct rb_stmt *v;

		if (nc > RB_REQ_STMTS || !(v = realloc(q->v, nc * sizeof(*v)))) {
			given_up(rb, p);
			return;
		}
		q->v = v;
		q->cap = nc;
	}
	q->v[q->n++] = *x;
}

/* ---- requests ---- */

bool reqbind_serves_http(struct reqbind *rb, uint32_t tgid)
{
	return rb && proc_find(rb, tgid);
}

/* Still needed: in flight (maybe waiting for a connection), or a recent anchor. */
static bool req_busy(const struct rb_req *q, uint64_t now)
{
	if (!q->gen)
		return false;
	if (!(q->flags & RQ_DONE))
		return true;
	return (q->flags & RQ_RESPONDED) && !(q->flags & (RQ_MATCHED | RQ_ACCOUNTED)) && !timed_out(q) &&
	       now < q->respond_ts + RB_HORIZON_NS;
}

/* Its slot is taken (the ring is at its largest): one still needed is counted as given up. */
static void evict(struct reqbind *rb, struct rb_proc *p, struct rb_req *q, uint64_t now)
{
	if (!q->gen)
		return;
	if ((q->flags & RQ_MATCHED) && p->event_loop)
		account(rb, q);
	else if (req_busy(q, now))
		given_up(rb, p);
	req_clear(q);
	q->gen = 0;
}

/* The slot for a new request: the ring doubles rather than drop one still needed. */
static uint32_t next_slot(struct rb_proc *p, uint64_t now)
{
	uint32_t slot = p->next_slot % p->nreq, n = p->nreq;
	struct rb_req *v;

	if (req_busy(&p->req[slot], now) && n < RB_REQS_MAX && (v = realloc(p->req, 2 * n * sizeof(*v)))) {
		memset(v + n, 0, n * sizeof(*v));
		p->req = v;
		p->nreq = 2 * n;
		slot = n;
		p->next_slot = n;
	}
	p->next_slot++;
	return slot;
}

uint64_t reqbind_arrival(struct reqbind *rb, uint32_t tgid, const char *comm, uint64_t conn,
			 uint32_t tid, uint32_t route, uint64_t ts)
{
	struct rb_proc *p = proc_get(rb, tgid, comm);
	struct rb_thread *t = thread_of(rb, tgid, tid);
	struct rb_req *q, *open;
	uint32_t slot;

	if (!p)
		return 0;
	if (t->key == (((uint64_t)tgid << 32) | tid)) {
		open = req_of(p, t->h);
		if (open && open->conn != conn && !(open->flags & RQ_RESPONDED) && !p->event_loop) {
			struct pool_stats *ps = pool(rb, p);

			p->event_loop = true;
			if (ps)
				ps->event_loop = true;
		}
	}
	slot = next_slot(p, ts);
	q = &p->req[slot];
	evict(rb, p, q, ts);
	if (!++p->gen)
		p->gen = 1;
	q->gen = p->gen;
	q->route = route;
	q->conn = conn;
	q->arrival = ts;
	q->last_send = q->checkout_ts = q->respond_ts = 0;
	q->reader = tid;
	q->writer = 0;
	q->status = 0;
	q->flags = 0;
	q->method = BIND_EXACT_THREAD;
	t->key = ((uint64_t)tgid << 32) | tid;
	t->h = ((uint64_t)q->gen << 32) | slot;
	return t->h;
}

void reqbind_thread_call(struct reqbind *rb, uint32_t tgid, uint32_t tid, const struct rb_stmt *x)
{
	struct rb_proc *p = proc_find(rb, tgid);
	struct rb_thread *t = thread_of(rb, tgid, tid);
	struct rb_req *q;

	if (!p || p->event_loop || t->key != (((uint64_t)tgid << 32) | tid))
		return;
	q = req_of(p, t->h);
	if (q && !(q->flags & RQ_DONE) && x->start >= q->arrival)
		req_push(rb, p, q, x);
}

void reqbind_done(struct reqbind *rb, uint32_t tgid, uint64_t h)
{
	struct rb_proc *p = proc_find(rb, tgid);
	struct rb_req *q = req_of(p, h);
	uint32_t i, o = 0;

	if (!q || q->flags & RQ_DONE)
		return;
	q->flags |= RQ_DONE;
	if (timed_out(q) || !q->last_send) {
		req_clear(q);
		/* It may still have taken a connection: its wait counts, by arrival order. */
		if (!q->last_send && p->event_loop)
			q->flags |= RQ_UNANSWERED;
		return;
	}
	if (p->event_loop) {
		if (q->flags & RQ_MATCHED)
			account(rb, q);
		return;
	}
	if (q->writer != q->reader) {
		req_clear(q);
		return;
	}
	/* Statements after the last response write were not the request's. */
	for (i = 0; i < q->n; i++)
		if (q->v[i].start <= q->last_send)
			q->v[o++] = q->v[i];
	q->n = o;
	q->method = BIND_EXACT_THREAD;
	account(rb, q);
}

/* ---- periods ---- */

static struct rb_period *ring_at(struct rb_ring *r, uint32_t i)
{
	return &r->v[(r->head + i) % RB_PENDING];
}

static void ring_pop(struct rb_ring *r)
{
	r->head = (r->head + 1) % RB_PENDING;
	r->len--;
}

/* The end of the last statement before the reset, and the reset's start (0: none). */
static bool anchor_of(const struct rb_period *per, uint64_t *end, uint64_t *reset_start)
{
	uint32_t i = per->n;

	while (i > 0 && per->v[i - 1].reset)
		i--;
	if (!i)
		return false;
	*end = per->v[i - 1].end;
	*reset_start = i < per->n ? per->v[i].start : 0;
	return true;
}

/*
 * Read before a checkout began? A TCP send's start is the stamp of the
 * transmit it began, which can be a stale one up to 1 ms old (see
 * tcp_send_start in BPF): a request read just before a connection was
 * taken can look read just after.
 */
static bool arrived_by(const struct rb_req *q, uint64_t checkout_ts)
{
	return q->arrival <= checkout_ts || q->arrival - checkout_ts <= RB_STAMP_SLACK_NS;
}

static bool candidate(const struct rb_req *q, uint64_t checkout_ts)
{
	return q->gen && (q->flags & RQ_RESPONDED) && !(q->flags & RQ_MATCHED) && !timed_out(q) &&
	       arrived_by(q, checkout_ts);
}

static void match(struct reqbind *rb, struct rb_proc *p, const struct rb_period *per, struct rb_req *q,
		  int method)
{
	struct pool_stats *ps = pool(rb, p);
	uint32_t i;

	q->flags |= RQ_MATCHED;
	if (ps) {
		hist_add(&ps->wait, span(q->arrival, per->checkout_ts));
		ps->waits[method]++;
	}
	/*
	 * A thread-per-request server has bound its statements exactly already;
	 * an unanswered request adds nothing to its route (see account).
	 */
	if (!p->event_loop || q->flags & RQ_UNANSWERED)
		return;
	q->checkout_ts = per->checkout_ts;
	q->method = (uint8_t)method;
	q->n = 0;
	for (i = 0; i < per->n; i++)
		req_push(rb, p, q, &per->v[i]);
	if (per->overflow)
		given_up(rb, p);
	if (q->flags & RQ_DONE)
		account(rb, q);
}

static void ring_push(struct reqbind *rb, struct rb_proc *p, struct rb_ring *r, const struct rb_period *per)
{
	if (!r->v && !(r->v = calloc(RB_PENDING, sizeof(*r->v)))) {
		given_up(rb, p);
		return;
	}
	if (r->len == RB_PENDING) {
		given_up(rb, p);
		ring_pop(r);
	}
	*ring_at(r, r->len++) = *per;
}

/* The end of the period's last statement: its reset's, or its last one's. */
static uint64_t period_end(const struct rb_period *per)
{
	return per->v[per->n - 1].end;
}

/*
 * How far a response written at t lies from where the period's own would
 * be (UINT64_MAX: it cannot be its): an app that releases the connection
 * after responding writes it just before the reset goes out; one that
 * releases first writes it soon after the reset is done, which counts as
 * farther (responses written before the reset go to their period first).
 */
static uint64_t anchor_cost(const struct rb_period *per, uint64_t t)
{
	uint64_t e, r, end = period_end(per);

	if (!anchor_of(per, &e, &r))
		return UINT64_MAX;
	if (r && t >= e && t <= r)
		return r - t;
	if (t >= end && t - end <= RB_AFTER_NS)
		return (t - end) * RB_AFTER_WEIGHT;
	/* Anywhere else near: a last resort before pairing in order of arrival. */
	if (t + RB_AFTER_NS >= e && t <= end)
		return (t > e ? t - e : e - t) * RB_FAR_WEIGHT;
	return UINT64_MAX;
}

struct rb_edge {
	uint64_t cost;
	uint32_t per;		/* index in the pending ring */
	uint32_t resp;		/* index in cand[], or RB_REQS_MAX + index in orphan[] */
};

static int by_cost(const void *a, const void *b)
{
	const struct rb_edge *x = a, *y = b;

	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	return x->per < y->per ? -1 : x->per > y->per;
}

/* Drop candidates matched or gone, and those too old to anchor any period to come. */
static void cand_compact(struct rb_proc *p, uint64_t now)
{
	uint32_t i, o = 0;

	for (i = 0; i < p->ncand; i++) {
		struct rb_req *q = req_of(p, p->cand[i]);

		if (q && candidate(q, UINT64_MAX) && (now == UINT64_MAX || q->respond_ts + RB_STALE_NS >= now))
			p->cand[o++] = p->cand[i];
	}
	p->ncand = o;
}

/* The first candidate written at or after t (the list is in the order responses were written). */
static uint32_t cand_from(const struct rb_proc *p, uint64_t t)
{
	uint32_t lo = 0, hi = p->ncand;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (req_of((struct rb_proc *)p, p->cand[mid])->respond_ts < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool edge_add(struct rb_edge **v, uint32_t *n, uint32_t *cap, uint64_t cost, uint32_t per, uint32_t resp)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? 2 * *cap : 256;
		struct rb_edge *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return false;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = (struct rb_edge){ cost, per, resp };
	return true;
}

/*
 * Decide the pending periods that ended long enough ago (the first `must`
 * whatever the clock says): every pending period and every response that
 * could be its are paired greedily, nearest first, so a response goes to
 * the period it fits best, not to the first period that could take it.
 * Periods still open to later responses take part without being decided.
 */
static void decide_batch(struct reqbind *rb, struct rb_proc *p, uint64_t now, bool force, uint32_t must)
{
	uint32_t choice[RB_PENDING];	/* per pending period: the response it takes */
	bool had_edge[RB_PENDING] = {}, orphan_used[RB_ORPHANS] = {};
	struct pool_stats *ps = pool(rb, p);
	uint32_t n = p->pending.len, settled = 0, i, j, k, nedges = 0;
	uint8_t *resp_used;
	struct rb_edge *edges = NULL;
	uint32_t cap = 0;

	while (settled < n && (force || settled < must ||
			       period_end(ring_at(&p->pending, settled)) + RB_SETTLE_NS <= now))
		settled++;
	if (!settled)
		goto out;
	for (i = 0; i < n; i++)
		choice[i] = RB_NONE;
	cand_compact(p, now);
	resp_used = calloc(p->ncand + 1, 1);
	if (!resp_used)
		goto out;
	for (i = 0; i < n; i++) {
		const struct rb_period *per = ring_at(&p->pending, i);
		uint64_t e, r, c;

		if (!anchor_of(per, &e, &r))
			continue;
		for (j = cand_from(p, e > RB_AFTER_NS ? e - RB_AFTER_NS : 0); j < p->ncand; j++) {
			struct rb_req *q = req_of(p, p->cand[j]);

			if (q->respond_ts > period_end(per) + RB_AFTER_NS)
				break;
			if (!arrived_by(q, per->checkout_ts) || (c = anchor_cost(per, q->respond_ts)) == UINT64_MAX)
				continue;
			if (!edge_add(&edges, &nedges, &cap, c, i, j))
				break;
		}
		for (j = 0; j < RB_ORPHANS && j < p->norphans; j++) {
			if (!p->orphan[j].respond_ts || (c = anchor_cost(per, p->orphan[j].respond_ts)) == UINT64_MAX)
				continue;
			edge_add(&edges, &nedges, &cap, c, i, RB_REQS_MAX + j);
		}
	}
	qsort(edges, nedges, sizeof(*edges), by_cost);
	for (i = 0; i < nedges; i++) {
		const struct rb_edge *g = &edges[i];
		bool orphan = g->resp >= RB_REQS_MAX;

		had_edge[g->per] = true;
		if (choice[g->per] != RB_NONE || (orphan ? orphan_used[g->resp - RB_REQS_MAX] : resp_used[g->resp]))
			continue;
		choice[g->per] = g->resp;
		if (orphan)
			orphan_used[g->resp - RB_REQS_MAX] = true;
		else
			resp_used[g->resp] = 1;
	}
	/*
	 * Decide the settled periods in order, up to one that lost every
	 * response it could have to others: it waits for them to be decided
	 * (a period still open may yet take another).
	 */
	for (k = 0; k < settled; k++)
		if (choice[k] == RB_NONE && had_edge[k] && !force && k >= must)
			break;
	for (i = 0; i < k; i++) {
		struct rb_period *per = ring_at(&p->pending, 0);

		if (choice[i] == RB_NONE) {
			ring_push(rb, p, &p->unanchored, per);
		} else if (choice[i] >= RB_REQS_MAX) {
			p->orphan[choice[i] - RB_REQS_MAX].respond_ts = 0;
			if (ps)
				ps->unseen++;
		} else {
			match(rb, p, per, req_of(p, p->cand[choice[i]]), BIND_DERIVED_ANCHORED);
		}
		ring_pop(&p->pending);
	}
	free(resp_used);
	free(edges);
out:
	p->next_try = p->pending.len ? period_end(ring_at(&p->pending, 0)) + RB_SETTLE_NS : 0;
	if (p->next_try && now != UINT64_MAX && p->next_try < now + RB_BATCH_NS)
		p->next_try = now + RB_BATCH_NS;
}

static void advance(struct reqbind *rb, struct rb_proc *p, uint64_t now, bool force)
{
	if (!p->pending.len || (!force && now < p->next_try))
		return;
	decide_batch(rb, p, now, force, 0);
}

/* Kept in the order of the responses' writes (events from different CPUs can come a little out of it). */
static bool cand_add(struct rb_proc *p, uint64_t h, uint64_t ts)
{
	uint64_t *v;
	uint32_t i;

	if (p->ncand == p->cand_cap) {
		uint32_t nc = p->cand_cap ? 2 * p->cand_cap : 64;

		if (nc > RB_REQS_MAX || !(v = realloc(p->cand, nc * sizeof(*v))))
			return false;
		p->cand = v;
		p->cand_cap = nc;
	}
	for (i = p->ncand; i > 0; i--) {
		struct rb_req *q = req_of(p, p->cand[i - 1]);

		if (!q || q->respond_ts <= ts)
			break;
		p->cand[i] = p->cand[i - 1];
	}
	p->cand[i] = h;
	p->ncand++;
	return true;
}

void reqbind_response(struct reqbind *rb, uint32_t tgid, uint64_t h, uint32_t tid, uint64_t ts,
		      uint16_t status)
{
	struct rb_proc *p = proc_find(rb, tgid);
	struct rb_req *q = req_of(p, h);

	if (!q)
		return;
	if (status) {
		if (!(q->flags & RQ_RESPONDED) && !cand_add(p, h, ts))
			given_up(rb, p);	/* an anchor no period will see */
		q->status = status;
		q->respond_ts = ts;
		q->flags |= RQ_RESPONDED;
		q->writer = tid;
	}
	if (q->flags & RQ_RESPONDED)
		q->last_send = ts;
	if (p->pending.len)
		advance(rb, p, ts, false);
}

void reqbind_orphan_write(struct reqbind *rb, uint32_t tgid, const char *comm, uint64_t conn, uint64_t ts,
			  bool status_line)
{
	struct rb_proc *p = proc_get(rb, tgid, comm);
	uint32_t i;

	if (!p)
		return;
	if (!status_line)
		return;
	i = p->norphans++ % RB_ORPHANS;
	p->orphan[i].conn = conn;
	p->orphan[i].respond_ts = ts;
	if (p->pending.len)
		advance(rb, p, ts, false);
}

void reqbind_period(struct reqbind *rb, uint32_t tgid, const struct rb_period *per)
{
	struct rb_proc *p = proc_find(rb, tgid);
	struct pool_stats *ps;
	uint64_t e, r;

	if (!p || !per->n || !anchor_of(per, &e, &r))
		return;
	ps = pool(rb, p);
	if (ps)
		ps->checkouts++;
	if (p->pending.len == RB_PENDING)
		decide_batch(rb, p, period_end(per), false, 1);	/* no room: the oldest takes what it has */
	ring_push(rb, p, &p->pending, per);
	if (p->pending.len == 1)
		p->next_try = period_end(per) + RB_SETTLE_NS;
	advance(rb, p, period_end(per), false);
}

static int by_arrival(const void *a, const void *b)
{
	const struct rb_req *x = *(struct rb_req *const *)a, *y = *(struct rb_req *const *)b;

	return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static int by_checkout(const void *a, const void *b)
{
	const struct rb_period *x = *(struct rb_period *const *)a, *y = *(struct rb_period *const *)b;

	return x->checkout_ts < y->checkout_ts ? -1 : x->checkout_ts > y->checkout_ts;
}

/*
 * The k-th unmatched arrival with the k-th unanchored checkout after it.
 * Requests that were never answered (their client gave up waiting) are
 * arrivals too: their checkouts have no response to anchor them, and they
 * are the longest waits of all.
 */
static void pair_fifo(struct reqbind *rb, struct rb_proc *p)
{
	struct rb_req **reqs = malloc(p->nreq * sizeof(*reqs));
	struct rb_period *pers[RB_PENDING];
	struct pool_stats *ps = pool(rb, p);
	uint32_t nr = 0, np = p->unanchored.len, i, a = 0, b = 0;

	if (!reqs) {
		if (ps)
			ps->unmatched += np;
		p->unanchored.len = 0;
		return;
	}
	for (i = 0; i < p->nreq; i++)
		if (candidate(&p->req[i], UINT64_MAX) ||
		    (p->req[i].gen && (p->req[i].flags & (RQ_UNANSWERED | RQ_MATCHED)) == RQ_UNANSWERED))
			reqs[nr++] = &p->req[i];
	for (i = 0; i < np; i++)
		pers[i] = ring_at(&p->unanchored, i);
	qsort(reqs, nr, sizeof(*reqs), by_arrival);
	qsort(pers, np, sizeof(*pers), by_checkout);
	while (a < nr && b < np) {
		if (!arrived_by(reqs[a], pers[b]->checkout_ts)) {
			b++;	/* its request was never seen */
			if (ps)
				ps->unmatched++;
			continue;
		}
		match(rb, p, pers[b++], reqs[a++], BIND_DERIVED_FIFO);
	}
	if (ps)
		ps->unmatched += np - b;
	p->unanchored.len = 0;
	free(reqs);
}

void reqbind_finish(struct reqbind *rb)
{
	uint32_t i, j;

	for (i = 0; rb && i < rb->nprocs; i++) {
		struct rb_proc *p = rb->procs[i];

		advance(rb, p, UINT64_MAX, true);
		pair_fifo(rb, p);
		for (j = 0; j < p->nreq; j++)
			if (p->req[j].gen && (p->req[j].flags & RQ_MATCHED) && p->event_loop)
				account(rb, &p->req[j]);
	}
}
