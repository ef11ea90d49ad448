// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * --sample: the gate that lets a connection in and out of tracing windows
 * only between calls (include/sample_gate.h, run by BPF), and what the
 * collector makes of a sampled run: its windows, and the two ends of a
 * connection entering a window one call apart.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "collector.h"
#include "conn.h"
#include "events.h"
#include "summary.h"
#include "sample_gate.h"
#include "window_event.h"

enum { FE = DBLAT_STREAM_FE, BE = DBLAT_STREAM_BE };

static const struct dblat_gate_seen request1 = { .requests = 1 };
static const struct dblat_gate_seen ready_idle = { .ready = 1, .ends_idle = 1 };
static const struct dblat_gate_seen ready_in_txn = { .ready = 1 };
static const struct dblat_gate_seen rows_only = { 0 };

/* One call while a window is open: request traced, answer traced. */
static void call(struct dblat_gate *g, const struct dblat_gate_seen *answer)
{
	CHECK(dblat_gate_pass(g, FE, 1) != 0);
	dblat_gate_after(g, FE, &request1);
	CHECK_EQ_INT(dblat_gate_pass(g, BE, 1), 1);
	dblat_gate_after(g, BE, answer);
}

TEST(sample_gate_pauses_at_an_idle_request_and_resumes_at_a_request)
{
	struct dblat_gate g = { 0 };

	/* The startup phase ends with ReadyForQuery 'I': idle. */
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 1), 1);
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK(g.idle);
	call(&g, &ready_idle);
	/* The window closes: the next request is not traced, nor its answer. */
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 0);
	CHECK(g.paused);
	dblat_gate_skipped(&g, FE);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 0), 0);
	dblat_gate_skipped(&g, BE);
	/* A window opens while an answer is due: it stays out until the next request. */
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 0);
	dblat_gate_skipped(&g, FE);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 1), 0);
	dblat_gate_skipped(&g, BE);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 1), 2);
	CHECK(!g.paused);
	dblat_gate_after(&g, FE, &request1);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 1), 1);
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK(g.idle && !g.outstanding);
}

TEST(sample_gate_resumes_only_after_an_answer_went_by)
{
	struct dblat_gate g = { .idle = 1 };

	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 0);
	dblat_gate_skipped(&g, FE);
	/* The request's second write (or a pipelined one): its answer has not come. */
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 1), 0);
	dblat_gate_skipped(&g, FE);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 1), 0);
	dblat_gate_skipped(&g, BE);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 1), 2);
}

TEST(sample_gate_keeps_a_transaction_whole)
{
	struct dblat_gate g = { 0 };

	call(&g, &ready_idle);
	/* BEGIN ... : ReadyForQuery 'T' is not idle, so the closed window waits. */
	call(&g, &ready_in_txn);
	CHECK(!g.idle);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 1);
	dblat_gate_after(&g, FE, &request1);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 0), 1);
	dblat_gate_after(&g, BE, &ready_in_txn);
	/* COMMIT: idle again; the next request pauses it. */
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 1);
	dblat_gate_after(&g, FE, &request1);
	CHECK_EQ_INT(dblat_gate_pass(&g, BE, 0), 1);
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 0);
}

TEST(sample_gate_waits_for_every_answer_of_a_pipeline)
{
	struct dblat_gate g = { 0 };
	struct dblat_gate_seen two = { .requests = 2 };

	call(&g, &ready_idle);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 1), 1);
	dblat_gate_after(&g, FE, &two);
	CHECK_EQ_INT(g.outstanding, 2);
	/* The first answer says idle, but a second is due: not idle. */
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK(!g.idle);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 1);
	dblat_gate_after(&g, FE, &request1);
	/* An answer split over reads: its rows first, nothing idle yet. */
	dblat_gate_after(&g, BE, &rows_only);
	CHECK(!g.idle);
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK(!g.idle);
	CHECK_EQ_INT(g.outstanding, 1);
	dblat_gate_after(&g, BE, &ready_idle);
	CHECK(g.idle);
	CHECK_EQ_INT(dblat_gate_pass(&g, FE, 0), 0);
}

/* ---- the collector ---- */

#define US 1000ull

static void window(struct collector *c, uint64_t start, uint64_t end)
{
	struct window_event e;

	window_event_make(&e, start, end, 10, 1000);
	if (start && !end)
		e.w.flags = DBLAT_WIN_REOPENED;
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e)), 0);
}

/* Both ends of one loopback TCP connection, so that the collector joins them. */
static void conn(struct collector *c, uint64_t id, int role)
{
	bool client = role == DBLAT_ROLE_CLIENT;

	ev_conn_tcp(c, id, client ? 100 : 200, role, client ? "app" : "postgres", client ? 40001 : 5432,
		    client ? 5432 : 40001);
}

static uint64_t evbuf[(sizeof(struct dblat_event) + 256) / 8];

static void data_flags(struct collector *c, uint64_t id, int role, int dir, uint64_t ts, uint16_t flags,
		       const uint8_t *b, uint32_t n)
{
	struct dblat_event *ev = (struct dblat_event *)evbuf;

	memset(evbuf, 0, sizeof(evbuf));
	ev->kind = DBLAT_EV_DATA;
	ev->conn_id = id;
	ev->tgid = ev->tid = role == DBLAT_ROLE_CLIENT ? 100 : 200;
	ev->fd = (int32_t)id;
	ev->dir = (uint8_t)dir;
	ev->role = (uint8_t)role;
	ev->stream = (role == DBLAT_ROLE_CLIENT) == (dir == DBLAT_DIR_SEND) ? FE : BE;
	ev->ts_ns = ts;
	ev->total_len = ev->cap_len = n;
	ev->flags = flags;
	strcpy(ev->comm, role == DBLAT_ROLE_CLIENT ? "app" : "postgres");
	memcpy(ev + 1, b, n);
	CHECK_EQ_INT(collector_handle(c, evbuf, sizeof(*ev) + dblat_data_pad(n)), 0);
}

static void data(struct collector *c, uint64_t id, int role, int dir, uint64_t ts, bool first,
		 const uint8_t *b, uint32_t n)
{
	data_flags(c, id, role, dir, ts, first ? DBLAT_F_RESYNC : 0, b, n);
}

static const uint8_t q_select[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };
static const uint8_t a_select[] = { 'C', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0,
				    'Z', 0, 0, 0, 5, 'I' };

/*
 * One call on connection id: the query crosses at t, the answer took later
 * (the client sends and reads, the backend reads and sends). first: the
 * first buffers after the hooks were away (framed afresh).
 */
static void one_call(struct collector *c, uint64_t id, int role, uint64_t t, uint64_t took, bool first)
{
	bool client = role == DBLAT_ROLE_CLIENT;

	data(c, id, role, client ? DBLAT_DIR_SEND : DBLAT_DIR_RECV, t, first, q_select, sizeof(q_select));
	data(c, id, role, client ? DBLAT_DIR_RECV : DBLAT_DIR_SEND, t + took, first, a_select, sizeof(a_select));
}

/* The backend's half of a call: it reads the query at t and answers 10 us later. */
static void server_call(struct collector *c, uint64_t t, bool first)
{
	one_call(c, 2, DBLAT_ROLE_SERVER, t, 10 * US, first);
}

TEST(sample_windows_and_a_backend_a_call_ahead)
{
	struct summary *s = summary_new();
	struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
	struct stmt_stats *cl = NULL, *sv = NULL;
	uint64_t t1 = 1000 * US, t2 = 2000000 * US;
	uint32_t i;

	CHECK(c != NULL);
	if (!c)
		return;
	window(c, 0, 0);
	CHECK_EQ_INT(s->sample_pct, 10);
	conn(c, 1, DBLAT_ROLE_CLIENT);
	conn(c, 2, DBLAT_ROLE_SERVER);
	/* A call both ends saw: 30 us at the client. */
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, t1, true, q_select, sizeof(q_select));
	server_call(c, t1 + 5 * US, true);
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, t1 + 30 * US, true, a_select, sizeof(a_select));
	window(c, t1 - 50 * US, t1 + 100 * US);
	/*
	 * The next window opened between the client's send and the backend's
	 * read: the backend traces a call whose client half went unseen.
	 */
	server_call(c, t2, false);
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, t2 + 200 * US, false, q_select, sizeof(q_select));
	server_call(c, t2 + 205 * US, false);
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, t2 + 230 * US, false, a_select, sizeof(a_select));
	window(c, t2 - 10 * US, t2 + 400 * US);
	collector_finish(c, t2 + 1000 * US);

	for (i = 0; i < s->nstmts; i++) {
		if (s->stmts[i]->side == SIDE_CLIENT)
			cl = s->stmts[i];
		else
			sv = s->stmts[i];
	}
	CHECK(cl && sv);
	if (cl && sv) {
		CHECK_EQ_INT(cl->calls, 2);
		CHECK_EQ_INT(sv->calls, 3);
		/* Paired with the backend's call before it, the second would span 230 us. */
		CHECK_EQ_INT(cl->lat.max, 30 * US);
		CHECK_EQ_INT(cl->lat.sum, 60 * US);
	}
	CHECK_EQ_INT(s->sample_windows, 2);
	CHECK_EQ_INT(s->sampled_ns, 560 * US);
	s->duration_s = 10;
	CHECK(summary_traced_s(s) > 0.000559 && summary_traced_s(s) < 0.000561);
	collector_free(c);
	summary_free(s);
}

TEST(sample_unsampled_runs_count_every_second)
{
	struct summary *s = summary_new();

	CHECK(s != NULL);
	if (!s)
		return;
	s->duration_s = 12.5;
	CHECK(summary_traced_s(s) == 12.5);
	summary_free(s);
}

TEST(sample_reopened_window_forgets_cut_calls)
{
	struct summary *s = summary_new();
	struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
	uint64_t t1 = 1000 * US, t2 = 1500000 * US;

	CHECK(c != NULL);
	if (!c)
		return;
	window(c, 0, 0);
	conn(c, 1, DBLAT_ROLE_CLIENT);
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, t1, true, q_select, sizeof(q_select));
	/* The hooks left before its answer came: the next window begins with a marker. */
	window(c, t1 - 10 * US, t1 + 50 * US);
	window(c, t2 - 100 * US, 0);
	CHECK_EQ_INT(s->sample_cut, 1);
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, t2, true, q_select, sizeof(q_select));
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, t2 + 40 * US, true, a_select, sizeof(a_select));
	collector_finish(c, t2 + 1000 * US);
	CHECK_EQ_INT(s->nstmts, 1);
	if (s->nstmts == 1) {
		/* Matched with the cut request, it would have taken 1.5 s. */
		CHECK_EQ_INT(s->stmts[0]->calls, 1);
		CHECK_EQ_INT(s->stmts[0]->lat.max, 40 * US);
	}
	CHECK_EQ_INT(s->ctr.unmatched, 0);
	collector_free(c);
	summary_free(s);
}

static void budget_mark(struct collector *c, uint64_t start, uint64_t end, uint32_t pct, uint32_t flags,
			double cost)
{
	struct window_event e;

	if (!start && !end)
		window_event_budget(&e, 5000, 1000);
	else
		window_event_make(&e, start, end, pct, 1000);
	e.w.flags = flags;
	e.w.full_cost_ppm = (uint32_t)(cost * 1e6);
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e)), 0);
}

/*
 * A budget: every call traced for 0.5 s, then over it, a window of 150 ms,
 * then every call again from 2.3 s (after the hooks were away).
 */
TEST(sample_budget_stretches_of_every_call_and_windows)
{
	struct summary *s = summary_new();
	struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
	uint64_t t0 = 1000000 * US;
	char words[1024];

	CHECK(c != NULL);
	if (!c)
		return;
	s->start_ns = t0;
	budget_mark(c, 0, 0, 100, 0, 0);
	/* Half a percent, in millionths of the CPUs. */
	CHECK(s->budget_pct > 0.4999 && s->budget_pct < 0.5001);
	CHECK_EQ_INT(s->sample_pct, 0);
	s->duration_s = 0.25;
	/* Nothing over it yet: the whole run so far is traced. */
	CHECK(summary_traced_s(s) > 0.2499 && summary_traced_s(s) < 0.2501);
	CHECK(summary_sampling_words(s, words, sizeof(words)) > 0 &&
	      strstr(words, "within its CPU budget (0.5% of the host's CPUs): every call traced"));
	conn(c, 1, DBLAT_ROLE_CLIENT);
	one_call(c, 1, DBLAT_ROLE_CLIENT, t0 + 100 * US, 40 * US, true);
	budget_mark(c, t0, t0 + 500000 * US, 100, 0, 0.12);
	CHECK(c->windows_now);
	CHECK_EQ_INT(s->full_ns, 500000 * US);
	CHECK_EQ_INT(s->budget_over_at, t0 + 500000 * US);
	one_call(c, 1, DBLAT_ROLE_CLIENT, t0 + 1100000 * US, 40 * US, false);
	budget_mark(c, t0 + 1000000 * US, t0 + 1150000 * US, 15, 0, 0.13);
	CHECK_EQ_INT(s->sample_pct, 15);
	CHECK_EQ_INT(s->sample_windows, 1);
	/* The hooks went away with a request unanswered; every call from 2.3 s. */
	data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, t0 + 1149000 * US, false, q_select, sizeof(q_select));
	budget_mark(c, t0 + 2300000 * US, 0, 100, DBLAT_WIN_REOPENED, 0.01);
	CHECK(!c->windows_now);
	CHECK_EQ_INT(s->sample_cut, 1);
	one_call(c, 1, DBLAT_ROLE_CLIENT, t0 + 2400000 * US, 40 * US, true);
	collector_finish(c, t0 + 3000000 * US);
	s->duration_s = 3;
	/* 0.5 s, 0.15 s, and 0.7 s from 2.3 s to the end. */
	CHECK(summary_traced_s(s) > 1.3499 && summary_traced_s(s) < 1.3501);
	CHECK(s->full_cost_peak > 0.1299 && s->full_cost_peak < 0.1301);
	CHECK(s->full_cost > 0.0099 && s->full_cost < 0.0101);
	CHECK_EQ_INT(s->nstmts, 1);
	if (s->nstmts == 1) {
		CHECK_EQ_INT(s->stmts[0]->calls, 3);
		CHECK_EQ_INT(s->stmts[0]->lat.max, 40 * US);
	}
	CHECK(summary_sampling_words(s, words, sizeof(words)) > 0 &&
	      strstr(words, "over its CPU budget (0.5% of the host's CPUs) from 0.5 s: tracing every call was "
			    "estimated at up to 13.0%, so connections were traced in windows of 15 to 15% of every "
			    "1000 ms (1 windows) and every call for 1.2 s: 1.4 s traced of 3.0 s, 1 calls cut"));
	collector_free(c);
	summary_free(s);
}

/* Over the default budget while a traced process serves HTTP: every call kept, and the report says why. */
TEST(sample_budget_held_for_requests)
{
	struct summary *s = summary_new();
	struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
	char words[1024];

	CHECK(c != NULL);
	if (!c)
		return;
	s->start_ns = 1000 * US;
	budget_mark(c, 0, 0, 100, 0, 0);
	budget_mark(c, 3000000 * US, 0, 100, DBLAT_WIN_HELD, 0.024);
	collector_finish(c, 3000000 * US);
	s->duration_s = 3;
	CHECK(s->budget_held);
	CHECK_EQ_INT(s->budget_over_at, 0);
	CHECK(!c->windows_ever);
	CHECK(summary_traced_s(s) > 2.9989 && summary_traced_s(s) < 2.9991);
	CHECK(summary_sampling_words(s, words, sizeof(words)) > 0 &&
	      strstr(words, "every call traced, at an estimated 2.40% of the host's CPUs (up to 2.4%), over its "
			    "CPU budget of 0.5%: a traced process serves HTTP"));
	collector_free(c);
	summary_free(s);
}

static const uint8_t startup[] = { 0, 0, 0, 23, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0,
				   'p', 'o', 's', 't', 'g', 'r', 'e', 's', 0, 0 };
static const uint8_t auth_ok_ready[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I' };

/*
 * A session counts as opened only if its start was seen: one picked up at
 * its AuthenticationOk (a window opened after its startup packet) began
 * untraced, and counting it put sessions per second traced a quarter over
 * pgbench's rate.
 */
TEST(sample_session_opened_only_from_its_start)
{
	for (int seen = 0; seen <= 1; seen++) {
		struct summary *s = summary_new();
		struct collector *c = s ? collector_new(s, NULL, NULL) : NULL;
		uint64_t opened = 0;

		CHECK(c != NULL);
		if (!c) {
			summary_free(s);
			return;
		}
		conn(c, 1, DBLAT_ROLE_CLIENT);
		if (seen) {
			/* The startup packet, as BPF sends it: the first buffer, in the untyped phase. */
			data_flags(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 1000 * US, DBLAT_F_RESYNC | DBLAT_F_UNTYPED,
				   startup, sizeof(startup));
		}
		data(c, 1, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, 1100 * US, true, auth_ok_ready, sizeof(auth_ok_ready));
		one_call(c, 1, DBLAT_ROLE_CLIENT, 2000 * US, 30 * US, !seen);
		collector_finish(c, 3000 * US);
		for (uint32_t i = 0; i < s->nprocs; i++)
			opened += s->procs[i]->opened;
		CHECK_EQ_INT(opened, (uint64_t)seen);
		collector_free(c);
		summary_free(s);
	}
}
