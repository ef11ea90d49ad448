// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* One order out of per-CPU rings (user/ring_merge.c). */
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "dblat.h"
#include "ring_merge.h"

struct seen {
	uint64_t ts[64];
	size_t size[64];
	int n;
};

static int collect(void *ctx, void *data, size_t size)
{
	struct seen *s = ctx;
	const struct dblat_event *ev = data;

	if (s->n < 64) {
		s->ts[s->n] = ev->ts_ns;
		s->size[s->n] = size;
		s->n++;
	}
	return 0;
}

/* An event stamped ts, with extra bytes after its header. */
static void push(struct ring_merge *m, int ring, uint64_t ts, size_t extra)
{
	uint8_t buf[sizeof(struct dblat_event) + 64] = { 0 };
	struct dblat_event *ev = (struct dblat_event *)buf;

	ev->ts_ns = ts;
	CHECK_EQ_INT(ring_merge_push(m, ring, buf, sizeof(*ev) + extra), 0);
}

/* The events handed on so far were stamped want[0..n), in that order. */
static void check_order(const struct seen *s, const uint64_t *want, int n)
{
	CHECK_EQ_INT(s->n, n);
	for (int i = 0; i < n && i < s->n; i++)
		CHECK_EQ_INT(s->ts[i], want[i]);
}

TEST(ring_merge_oldest_head_first)
{
	struct ring_merge *m = ring_merge_new(2);
	struct seen s = { 0 };

	push(m, 0, 10, 0);
	push(m, 0, 30, 5);
	push(m, 1, 20, 3);
	push(m, 1, 40, 0);
	CHECK_EQ_INT(ring_merge_flush(m, UINT64_MAX, collect, &s), 4);
	check_order(&s, (const uint64_t[]){ 10, 20, 30, 40 }, 4);
	/* Sizes survive the padding. */
	CHECK_EQ_INT(s.size[1], sizeof(struct dblat_event) + 3);
	CHECK_EQ_INT(s.size[2], sizeof(struct dblat_event) + 5);
	CHECK_EQ_INT(ring_merge_held(m), 0);
	ring_merge_free(m);
}

/*
 * A ring's own order is kept even where its stamps go back: a connection's
 * identity event (stamped when written) precedes its first data event
 * (stamped at the send's start, earlier).
 */
TEST(ring_merge_keeps_a_rings_order)
{
	struct ring_merge *m = ring_merge_new(2);
	struct seen s = { 0 };

	push(m, 0, 50, 0);	/* CONN */
	push(m, 0, 45, 0);	/* its first DATA, stamped at the send's start */
	push(m, 1, 47, 0);
	ring_merge_flush(m, UINT64_MAX, collect, &s);
	check_order(&s, (const uint64_t[]){ 47, 50, 45 }, 3);
	ring_merge_free(m);
}

/*
 * A thread moved from CPU 1 to CPU 0: its send went to ring 1, its read to
 * ring 0. Draining ring 0 first must not hand the read on before the send.
 */
TEST(ring_merge_thread_that_moved)
{
	struct ring_merge *m = ring_merge_new(2);
	struct seen s = { 0 };

	push(m, 0, 200, 0);	/* the read, on CPU 0 */
	push(m, 1, 100, 0);	/* the send before it, on CPU 1 */
	ring_merge_flush(m, UINT64_MAX, collect, &s);
	check_order(&s, (const uint64_t[]){ 100, 200 }, 2);
	ring_merge_free(m);
}

/* Events stamped after the horizon wait, with everything behind them in their ring. */
TEST(ring_merge_horizon_holds_the_rest)
{
	struct ring_merge *m = ring_merge_new(2);
	struct seen s = { 0 };

	push(m, 0, 10, 0);
	push(m, 0, 90, 0);
	push(m, 0, 20, 0);	/* behind a held one: waits too */
	push(m, 1, 30, 0);
	CHECK_EQ_INT(ring_merge_flush(m, 50, collect, &s), 2);
	check_order(&s, (const uint64_t[]){ 10, 30 }, 2);
	CHECK_EQ_INT(ring_merge_held(m), 2);
	/* The send that was still being written arrives, stamped before the horizon was. */
	push(m, 1, 40, 0);
	CHECK_EQ_INT(ring_merge_flush(m, 100, collect, &s), 3);
	check_order(&s, (const uint64_t[]){ 10, 30, 40, 90, 20 }, 5);
	ring_merge_free(m);
}

/* A ring's buffer grows and is reclaimed without losing or reordering events. */
TEST(ring_merge_many_events)
{
	struct ring_merge *m = ring_merge_new(3);
	uint64_t last = 0;
	int bad = 0, got = 0, round;

	for (round = 0; round < 50; round++) {
		struct seen s = { 0 };
		int i;

		for (i = 0; i < 60; i++) {
			uint64_t ts = (uint64_t)round * 1000 + i * 10 + 1;

			push(m, i % 3, ts, (size_t)(i % 40));
		}
		/* Hold the last 20 stamps of the round back to the next one. */
		ring_merge_flush(m, (uint64_t)round * 1000 + 400, collect, &s);
		for (i = 0; i < s.n; i++) {
			bad += s.ts[i] < last;
			last = s.ts[i];
		}
		got += s.n;
	}
	{
		struct seen s = { 0 };

		ring_merge_flush(m, UINT64_MAX, collect, &s);
		got += s.n;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(got, 50 * 60);
	CHECK_EQ_INT(ring_merge_held(m), 0);
	ring_merge_free(m);
}

struct order {
	uint64_t key[4096];	/* ts * 64 + ring */
	int n;
};

static int collect_key(void *ctx, void *data, size_t size)
{
	struct order *o = ctx;
	const struct dblat_event *ev = data;

	(void)size;
	if (o->n < 4096)
		o->key[o->n++] = ev->ts_ns * 64 + ev->tid;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * As many rings as a large host has CPUs, pushed in a scrambled order and
 * flushed in rounds: the events come out as a sort by stamp would give
 * them (ties to the lower ring), whatever the heap did.
 */
TEST(ring_merge_many_rings_like_a_sort)
{
	struct ring_merge *m = ring_merge_new(64);
	struct order got = { 0 }, want = { 0 };
	uint64_t next[64] = { 0 };
	uint32_t rnd = 12345;
	int round, i;

	for (round = 0; round < 8; round++) {
		for (i = 0; i < 500; i++) {
			uint8_t buf[sizeof(struct dblat_event)] = { 0 };
			struct dblat_event *ev = (struct dblat_event *)buf;
			int r;

			rnd = rnd * 1103515245u + 12345u;
			r = (rnd >> 16) % 64;
			/* Within a ring, stamps only grow; rings share some stamps. */
			if (next[r] < (uint64_t)round * 1000)
				next[r] = (uint64_t)round * 1000;
			next[r] += (rnd >> 8) % 3;
			if (next[r] >= (uint64_t)round * 1000 + 1000)
				continue;
			ev->ts_ns = next[r];
			ev->tid = r;
			CHECK_EQ_INT(ring_merge_push(m, r, buf, sizeof(buf)), 0);
			want.key[want.n++] = ev->ts_ns * 64 + r;
		}
		ring_merge_flush(m, (uint64_t)round * 1000 + 500, collect_key, &got);
	}
	ring_merge_flush(m, UINT64_MAX, collect_key, &got);
	qsort(want.key, want.n, sizeof(want.key[0]), cmp_u64);
	CHECK(want.n > 3000);
	CHECK_EQ_INT(got.n, want.n);
	for (i = 0; i < got.n && i < want.n; i++)
		if (got.key[i] != want.key[i])
			break;
	CHECK_EQ_INT(i, want.n);
	CHECK_EQ_INT(ring_merge_held(m), 0);
	ring_merge_free(m);
}

TEST(ring_merge_bad_ring)
{
	struct ring_merge *m = ring_merge_new(1);
	struct dblat_event ev = { 0 };

	CHECK_EQ_INT(ring_merge_push(m, 1, &ev, sizeof(ev)), -1);
	CHECK_EQ_INT(ring_merge_push(m, -1, &ev, sizeof(ev)), -1);
	CHECK(ring_merge_new(0) == NULL);
	ring_merge_free(m);
}
