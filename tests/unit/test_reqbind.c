// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Binding checkout periods and statements to HTTP requests (reqbind.c), on
 * synthetic timestamps: a request that barges in ahead of an earlier waiter,
 * 503s that never checked out, an app that releases before it responds,
 * the FIFO fallback (and requests never answered), and a thread-per-request
 * server.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "reqbind.h"
#include "summary.h"

#define MS 1000000ull	/* ns */
#define PID 42
#define LOOP_TID 42

struct fixture {
	struct summary *s;
	struct reqbind *rb;
	struct stmt_stats *begin, *select, *rollback, *commit;
};

static struct stmt_stats *stmt(struct summary *s, const char *text)
{
	return summary_stmt(s, summary_intern(s, text, strlen(text)), SIDE_CLIENT, "app");
}

static void setup(struct fixture *f)
{
	f->s = summary_new();
	f->rb = reqbind_new(f->s);
	f->s->routes = calloc(1, sizeof(*f->s->routes));
	f->s->nroutes = 1;
	f->s->routes[0].tgid = PID;
	f->begin = stmt(f->s, "BEGIN");
	f->select = stmt(f->s, "SELECT id FROM api_keys WHERE hashed_key = $1");
	f->rollback = stmt(f->s, "ROLLBACK");
	f->commit = stmt(f->s, "COMMIT");
}

static void teardown(struct fixture *f)
{
	reqbind_free(f->rb);
	summary_free(f->s);
}

static uint64_t arrive(struct fixture *f, uint64_t conn, uint32_t tid, uint64_t ts)
{
	return reqbind_arrival(f->rb, PID, "app", conn, tid, 0, ts);
}

static void respond(struct fixture *f, uint64_t h, uint64_t ts, uint16_t status)
{
	reqbind_response(f->rb, PID, h, LOOP_TID, ts, status);
}

/* BEGIN at co, the lookup until sel_end, ROLLBACK from rb_start (1 ms). */
static void period(struct fixture *f, uint32_t id, uint64_t co, uint64_t sel_end, uint64_t rb_start)
{
	struct rb_period p = { .id = id, .checkout_ts = co, .n = 3 };

	p.v[0] = (struct rb_stmt){ f->begin, co, co + MS / 10, false };
	p.v[1] = (struct rb_stmt){ f->select, co + MS / 10, sel_end, false };
	p.v[2] = (struct rb_stmt){ f->rollback, rb_start, rb_start + MS, true };
	reqbind_period(f->rb, PID, &p);
}

static const struct pool_stats *pool_of(const struct fixture *f)
{
	return f->s->npools ? &f->s->pools[0] : NULL;
}

/*
 * A arrives at 0, B at 10 ms; B gets the connection first (20 ms), A only
 * at 40 ms. In order of arrival A would be paired with 20 ms and B with
 * 40 ms (waits 20 and 30 ms); by their responses they waited 40 and 10 ms.
 */
TEST(reqbind_barging_request_served_first)
{
	struct fixture f;
	const struct pool_stats *p;
	const struct route_stats *r;
	uint64_t a, b;

	setup(&f);
	a = arrive(&f, 1, LOOP_TID, 0);
	b = arrive(&f, 2, LOOP_TID, 10 * MS);
	respond(&f, b, 30 * MS, 200);
	period(&f, 1, 20 * MS, 29 * MS, 31 * MS);
	reqbind_done(f.rb, PID, b);
	respond(&f, a, 50 * MS, 200);
	period(&f, 2, 40 * MS, 49 * MS, 51 * MS);
	reqbind_done(f.rb, PID, a);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	r = &f.s->routes[0];
	CHECK(p != NULL);
	if (p) {
		CHECK(p->event_loop);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_ANCHORED], 2);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_FIFO], 0);
		CHECK_EQ_INT(p->wait.min, 10 * MS);
		CHECK_EQ_INT(p->wait.max, 40 * MS);
	}
	CHECK_EQ_INT(r->attributed[BIND_DERIVED_ANCHORED], 2);
	CHECK_EQ_INT(r->pool_wait.sum, 50 * MS);
	CHECK_EQ_INT(r->stmts.sum, 6);
	/*
	 * B: 20 ms latency = 10 wait + 9 db + 1 app; its ROLLBACK (1 ms) runs
	 * after the response: db time, but not part of the latency.
	 */
	CHECK_EQ_INT(r->db.sum, (29 * MS - 20 * MS) + (49 * MS - 40 * MS) + 2 * MS);
	CHECK_EQ_INT(r->after.sum, 2 * MS);
	CHECK_EQ_INT(r->app.sum, 2 * MS);
	/* the latencies, B 20 ms and A 50 ms, are partitioned exactly */
	CHECK_EQ_INT(r->pool_wait.sum + r->db.sum - r->after.sum + r->app.sum, 70 * MS);
	CHECK_EQ_INT(f.select->bound_calls, 2);
	CHECK_EQ_INT(f.rollback->bound_calls, 2);
	CHECK_EQ_INT(r->nper_stmt, 3);
	teardown(&f);
}

/*
 * A send's start stamp can run early (see RB_STAMP_SLACK_NS): a request
 * read 0.4 ms after its BEGIN's stamp is still its checkout's. That 0.4 ms
 * of statement time lies before the request's latency began: reported on
 * its own, and the partition of the latency stays exact (it did not when
 * the app's time, less than 0.4 ms, was clamped at zero).
 */
TEST(reqbind_statement_time_before_arrival)
{
	struct fixture f;
	const struct route_stats *r;
	uint64_t a, b;

	setup(&f);
	a = arrive(&f, 1, LOOP_TID, 10 * MS + 4 * MS / 10);
	b = arrive(&f, 2, LOOP_TID, 11 * MS);	/* one thread, two requests: an event loop */
	respond(&f, a, 19 * MS + 2 * MS / 10, 200);
	period(&f, 1, 10 * MS, 19 * MS, 21 * MS);
	reqbind_done(f.rb, PID, a);
	respond(&f, b, 30 * MS, 200);
	period(&f, 2, 25 * MS, 29 * MS, 31 * MS);
	reqbind_done(f.rb, PID, b);
	reqbind_finish(f.rb);
	r = &f.s->routes[0];
	CHECK_EQ_INT(r->attributed[BIND_DERIVED_ANCHORED], 2);
	CHECK_EQ_INT(r->pool_wait.sum, 14 * MS);
	CHECK_EQ_INT(r->db.sum, 10 * MS + 5 * MS);
	CHECK_EQ_INT(r->after.sum, 2 * MS);
	CHECK_EQ_INT(r->before.sum, 4 * MS / 10);
	/*
	 * A: 8.8 ms = 0 wait + (10 - 1 after - 0.4 before) db + 0.2 app (less
	 * than the 0.4 ms the statements ran before it arrived);
	 * B: 19 ms = 14 wait + 4 db + 1 app.
	 */
	CHECK_EQ_INT(r->app.sum, MS + 2 * MS / 10);
	CHECK_EQ_INT(r->pool_wait.sum + r->db.sum - r->after.sum - r->before.sum + r->app.sum,
		     8 * MS + 8 * MS / 10 + 19 * MS);
	teardown(&f);
}

/* A 503 answered after the pool timeout never checked out: not a candidate. */
TEST(reqbind_timed_out_requests_stay_out)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t c, d;

	setup(&f);
	c = arrive(&f, 1, LOOP_TID, 0);
	d = arrive(&f, 2, LOOP_TID, 1 * MS);
	/* The 503 is written between the lookup's end and the ROLLBACK, after D's response. */
	respond(&f, d, 10 * MS, 200);
	respond(&f, c, 11 * MS, 503);
	reqbind_done(f.rb, PID, c);
	period(&f, 1, 5 * MS, 8 * MS, 12 * MS);
	reqbind_done(f.rb, PID, d);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->wait.count, 1);
		CHECK_EQ_INT(p->wait.max, 4 * MS);
		CHECK_EQ_INT(p->unmatched, 0);
	}
	CHECK_EQ_INT(f.s->routes[0].attributed[BIND_DERIVED_ANCHORED], 1);
	teardown(&f);
}

/*
 * An app that hands the connection back before it responds (a 401 raised in
 * a dependency): the response comes after the ROLLBACK, and the period is
 * decided once no later write could be nearer. Another request's response
 * earlier, but further from the lookup's end, must not take it.
 */
TEST(reqbind_release_before_response)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t a, other;

	setup(&f);
	other = arrive(&f, 1, LOOP_TID, 0);
	a = arrive(&f, 2, LOOP_TID, 1 * MS);
	respond(&f, other, 4 * MS, 200);
	period(&f, 1, 2 * MS, 10 * MS, 11 * MS);	/* closes at 12 ms; nothing decided yet */
	p = pool_of(&f);
	CHECK(p && p->wait.count == 0);
	respond(&f, a, 13 * MS, 401);
	reqbind_done(f.rb, PID, a);
	p = pool_of(&f);
	CHECK(p && p->wait.count == 0);	/* a later response could still fit better */
	reqbind_done(f.rb, PID, other);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->wait.count, 1);
		CHECK_EQ_INT(p->wait.max, 1 * MS);
	}
	CHECK_EQ_INT(f.s->routes[0].attributed[BIND_DERIVED_ANCHORED], 1);
	teardown(&f);
}

/* A period no response came near within the horizon is paired in order at the end. */
TEST(reqbind_fifo_fallback)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t a, late;

	setup(&f);
	a = arrive(&f, 1, LOOP_TID, 0);
	period(&f, 1, 3 * MS, 5 * MS, 6 * MS);
	late = arrive(&f, 2, LOOP_TID, 3000 * MS);	/* after the checkout: no candidate */
	respond(&f, late, 3001 * MS, 200);
	respond(&f, a, 3002 * MS, 200);
	reqbind_done(f.rb, PID, a);
	reqbind_done(f.rb, PID, late);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->waits[BIND_DERIVED_FIFO], 1);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_ANCHORED], 0);
		CHECK_EQ_INT(p->wait.max, 3 * MS);
	}
	CHECK_EQ_INT(f.s->routes[0].attributed[BIND_DERIVED_FIFO], 1);
	teardown(&f);
}

/*
 * A's client gives up before its answer: the connection A took at 50 ms
 * has no response to anchor it, yet its wait is the longest of the run. It
 * is paired by arrival order and counted in the pool, not in the route.
 */
TEST(reqbind_unanswered_request_wait_counts)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t a, b;

	setup(&f);
	a = arrive(&f, 1, LOOP_TID, 0);
	b = arrive(&f, 2, LOOP_TID, 1 * MS);
	period(&f, 1, 2 * MS, 4 * MS, 6 * MS);
	respond(&f, b, 5 * MS, 200);
	reqbind_done(f.rb, PID, b);
	period(&f, 2, 50 * MS, 52 * MS, 53 * MS);
	reqbind_done(f.rb, PID, a);	/* closed before any answer */
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->waits[BIND_DERIVED_ANCHORED], 1);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_FIFO], 1);
		CHECK_EQ_INT(p->wait.max, 50 * MS);
		CHECK_EQ_INT(p->unmatched, 0);
	}
	CHECK_EQ_INT(f.s->routes[0].attributed[BIND_DERIVED_ANCHORED], 1);
	CHECK_EQ_INT(f.s->routes[0].attributed[BIND_DERIVED_FIFO], 0);
	teardown(&f);
}

/*
 * Thread-per-request: what the request's thread sends between arrival and
 * the last response write is the request's; other threads' statements and
 * statements after the response are not.
 */
TEST(reqbind_thread_per_request)
{
	struct fixture f;
	const struct route_stats *r;
	struct rb_stmt x;
	uint64_t h;

	setup(&f);
	h = reqbind_arrival(f.rb, PID, "app", 1, 7, 0, 0);
	reqbind_arrival(f.rb, PID, "app", 2, 8, 0, 1 * MS);
	x = (struct rb_stmt){ f.select, 2 * MS, 5 * MS, false };
	reqbind_thread_call(f.rb, PID, 7, &x);
	x = (struct rb_stmt){ f.commit, 5 * MS, 6 * MS, false };
	reqbind_thread_call(f.rb, PID, 7, &x);
	x = (struct rb_stmt){ f.select, 3 * MS, 9 * MS, false };
	reqbind_thread_call(f.rb, PID, 8, &x);	/* the other request's */
	reqbind_response(f.rb, PID, h, 7, 7 * MS, 200);
	x = (struct rb_stmt){ f.rollback, 8 * MS, 9 * MS, true };
	reqbind_thread_call(f.rb, PID, 7, &x);	/* after the response */
	reqbind_response(f.rb, PID, h, 7, 7 * MS + 1000, 0);
	reqbind_done(f.rb, PID, h);
	reqbind_finish(f.rb);
	r = &f.s->routes[0];
	CHECK_EQ_INT(r->attributed[BIND_EXACT_THREAD], 1);
	CHECK_EQ_INT(r->stmts.sum, 2);
	CHECK_EQ_INT(r->db.sum, 4 * MS);
	CHECK_EQ_INT(r->app.sum, 7 * MS + 1000 - 4 * MS);
	CHECK_EQ_INT(r->pool_wait.count, 0);
	CHECK_EQ_INT(f.commit->bound_calls, 1);
	CHECK_EQ_INT(f.rollback->bound_calls, 0);
	CHECK(!f.s->npools || !f.s->pools[0].event_loop);
	teardown(&f);
}

/*
 * dblat attached while X was already waiting: X's request was never seen,
 * but its response is (an orphan write). X's checkout must not take B, a
 * traced request waiting behind it: it is counted as unseen, and B keeps
 * its own checkout and wait.
 */
TEST(reqbind_request_read_before_tracing)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t b;

	setup(&f);
	b = arrive(&f, 2, LOOP_TID, 5 * MS);
	reqbind_orphan_write(f.rb, PID, "app", 1, 30 * MS, true);
	period(&f, 1, 20 * MS, 29 * MS, 31 * MS);
	respond(&f, b, 50 * MS, 200);
	period(&f, 2, 40 * MS, 49 * MS, 51 * MS);
	reqbind_done(f.rb, PID, b);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->unseen, 1);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_ANCHORED], 1);
		CHECK_EQ_INT(p->wait.min, 35 * MS);
		CHECK_EQ_INT(p->wait.max, 35 * MS);
	}
	teardown(&f);
}

/*
 * Under exhaustion a request can wait while thousands of others arrive and
 * are served (a barging newcomer, or a long queue). It must still be there
 * to anchor its own checkout when it finally gets one: no request is
 * dropped while it is in flight, however many arrive behind it.
 */
TEST(reqbind_long_wait_outlasts_many_arrivals)
{
	struct fixture f;
	const struct pool_stats *p;
	uint64_t slow, h, t;
	uint32_t i, n = 5000;

	setup(&f);
	slow = arrive(&f, 1, LOOP_TID, 0);
	for (i = 0; i < n; i++) {
		t = (uint64_t)(i + 1) * MS;
		h = arrive(&f, 2 + i, LOOP_TID, t);
		respond(&f, h, t + MS / 2, 200);
		period(&f, 2 + i, t + MS / 10, t + MS / 4, t + 3 * MS / 4);
		reqbind_done(f.rb, PID, h);
	}
	t = (uint64_t)(n + 10) * MS;
	respond(&f, slow, t + MS / 2, 200);
	period(&f, 1, t + MS / 10, t + MS / 4, t + 3 * MS / 4);
	reqbind_done(f.rb, PID, slow);
	reqbind_finish(f.rb);
	p = pool_of(&f);
	CHECK(p != NULL);
	if (p) {
		CHECK_EQ_INT(p->given_up, 0);
		CHECK_EQ_INT(p->waits[BIND_DERIVED_ANCHORED], n + 1);
		CHECK_EQ_INT(p->wait.max, t + MS / 10);
		CHECK_EQ_INT(p->wait.min, MS / 10);
	}
	teardown(&f);
}
