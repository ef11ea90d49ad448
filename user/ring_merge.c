// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>
#include "dblat.h"
#include "ring_merge.h"

/* A ring's held events: [u32 size][u32 0][u64 ts][bytes, padded to 8]... */
struct fifo {
	uint8_t *buf;
	size_t head, tail, cap;
};

struct ring_merge {
	int n;
	size_t held;
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
	if (m)
		m->n = nrings;
	return m;
}

void ring_merge_free(struct ring_merge *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++)
		free(m->f[i].buf);
	free(m);
}

int ring_merge_push(struct ring_merge *m, int r, const void *data, size_t size)
{
	struct fifo *f;
	size_t need = REC_HDR + pad8(size);
	uint32_t sz32 = size, zero = 0;
	uint64_t ts = 0;

	if (!m || r < 0 || r >= m->n || size > UINT32_MAX)
		return -1;
	f = &m->f[r];
	if (f->head == f->tail)
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
	for (;;) {
		struct fifo *best = NULL;
		uint64_t best_ts = 0;
		uint32_t size;
		uint8_t *rec;

		for (int i = 0; i < m->n; i++) {
			struct fifo *f = &m->f[i];
			uint64_t ts;

			if (f->head == f->tail)
				continue;
			ts = head_ts(f);
			if (!best || ts < best_ts) {
				best = f;
				best_ts = ts;
			}
		}
		if (!best || best_ts > horizon_ns)
			return n;
		rec = best->buf + best->head;
		memcpy(&size, rec, 4);
		best->head += REC_HDR + pad8(size);
		m->held--;
		fn(ctx, rec + REC_HDR, size);
		n++;
	}
}

size_t ring_merge_held(const struct ring_merge *m)
{
	return m ? m->held : 0;
}
