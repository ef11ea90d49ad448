// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "dblat.h"
#include "ring_merge.h"

/* A ring's held events: [u32 size][u32 0][u64 ts][bytes, padded to 8]... */
struct fifo {
	uint8_t *buf;
	size_t head, tail, cap;
};

/* A ring with events held, keyed by its head's stamp (ties: the lower ring). */
struct head {
	uint64_t ts;
	int r;
};

/*
 * The rings that hold events form a min-heap by head stamp: handing on an
 * event costs log(rings), where scanning every ring cost as many steps as
 * the host has CPUs.
 */
struct ring_merge {
	int n, nheap;
	size_t held;
	struct head *heap;
	struct fifo f[];
};

#define REC_HDR 16

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct ring_merge *ring_merge_new(int nrings)
{
	struct ring_merge *m;

	if (nrings <= 0)
		return NULL;
	m = calloc(1, sizeof(*m) + (size_t)nrings * sizeof(m->f[0]));
	if (!m)
		return NULL;
	m->n = nrings;
	m->heap = calloc(nrings, sizeof(*m->heap));
	if (!m->heap) {
		free(m);
		return NULL;
	}
	return m;
}

void ring_merge_free(struct ring_merge *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++)
		free(m->f[i].buf);
	free(m->heap);
	free(m);
}

static int before(const struct head *a, const struct head *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->r < b->r);
}

static void sift_up(struct ring_merge *m, int i)
{
	struct head h = m->heap[i];

	while (i > 0) {
		int p = (i - 1) / 2;

		if (!before(&h, &m->heap[p]))
			break;
		m->heap[i] = m->heap[p];
		i = p;
	}
	m->heap[i] = h;
}

static void sift_down(struct ring_merge *m, int i)
{
	struct head h = m->heap[i];

	for (;;) {
		int c = 2 * i + 1;

		if (c >= m->nheap)
			break;
		if (c + 1 < m->nheap && before(&m->heap[c + 1], &m->heap[c]))
			c++;
		if (!before(&m->heap[c], &h))
			break;
		m->heap[i] = m->heap[c];
		i = c;
	}
	m->heap[i] = h;
}

int ring_merge_push(struct ring_merge *m, int r, const void *data, size_t size)
{
	struct fifo *f;
	size_t need = REC_HDR + pad8(size);
	uint32_t sz32 = size, zero = 0;
	uint64_t ts = 0;
	bool was_empty;

	if (!m || r < 0 || r >= m->n || size > UINT32_MAX)
		return -1;
	f = &m->f[r];
	was_empty = f->head == f->tail;
	if (was_empty)
		f->head = f->tail = 0;
	if (f->tail + need > f->cap) {
		/* Reclaim what was handed on first; grow only when that is not enough. */
		if (f->head) {
			memmove(f->buf, f->buf + f->head, f->tail - f->head);
			f->tail -= f->head;
			f->head = 0;
		}
		if (f->tail + need > f->cap) {
			size_t cap = f->cap ? f->cap : 1 << 16;
			uint8_t *nb;

			while (cap < f->tail + need)
				cap *= 2;
			nb = realloc(f->buf, cap);
			if (!nb)
				return -1;
			f->buf = nb;
			f->cap = cap;
		}
	}
	if (size >= sizeof(struct dblat_event))
		ts = ((const struct dblat_event *)data)->ts_ns;
	memcpy(f->buf + f->tail, &sz32, 4);
	memcpy(f->buf + f->tail + 4, &zero, 4);
	memcpy(f->buf + f->tail + 8, &ts, 8);
	memcpy(f->buf + f->tail + REC_HDR, data, size);
	f->tail += need;
	m->held++;
	if (was_empty) {
		m->heap[m->nheap] = (struct head){ .ts = ts, .r = r };
		sift_up(m, m->nheap++);
	}
	return 0;
}

static uint64_t head_ts(const struct fifo *f)
{
	uint64_t ts;

	memcpy(&ts, f->buf + f->head + 8, 8);
	return ts;
}

long ring_merge_flush(struct ring_merge *m, uint64_t horizon_ns, ring_merge_fn fn, void *ctx)
{
	long n = 0;

	if (!m)
		return 0;
	while (m->nheap && m->heap[0].ts <= horizon_ns) {
		struct fifo *f = &m->f[m->heap[0].r];
		uint8_t *rec = f->buf + f->head;
		uint32_t size;

		memcpy(&size, rec, 4);
		f->head += REC_HDR + pad8(size);
		m->held--;
		/* The ring's next head takes its place, or the last leaf does. */
		if (f->head != f->tail)
			m->heap[0].ts = head_ts(f);
		else
			m->heap[0] = m->heap[--m->nheap];
		if (m->nheap)
			sift_down(m, 0);
		fn(ctx, rec + REC_HDR, size);
		n++;
	}
	return n;
}

size_t ring_merge_held(const struct ring_merge *m)
{
	return m ? m->held : 0;
}
