/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * --sample: a PostgreSQL connection is traced in windows, and it enters
 * and leaves one only between calls. Outside a window a connection stops
 * being traced at the first request it sends (or a backend reads) once it
 * is idle: no request unanswered, its last ReadyForQuery "idle" (not in a
 * transaction), its framing at a message boundary. Inside a window it is
 * traced again from the next request on. So no call, transaction or
 * response is cut in two, and a long call is as likely to be seen as a
 * short one (a window that cut calls off would favour the short ones).
 * Compiled by BPF (wire.bpf.c) and by the unit tests.
 */
#ifndef DBLAT_SAMPLE_GATE_H
#define DBLAT_SAMPLE_GATE_H

#include "dblat.h"

/*
 * What the walk of one buffer found: requests that each get one
 * ReadyForQuery (Query, Sync, FunctionCall), ReadyForQuerys, and whether
 * the buffer ended exactly with a ReadyForQuery saying "idle".
 */
struct dblat_gate_seen {
	__u32 requests;
	__u32 ready;
	__u8 ends_idle;
};

static inline int dblat_gate_request(__u8 t)
{
	return t == 'Q' || t == 'S' || t == 'F';
}

/*
 * Before a buffer of stream (DBLAT_STREAM_FE or _BE) is looked at: may it
 * be traced? on: a window is open. Returns 1 to trace it, 0 to skip it, 2
 * to trace it as the first buffer after a pause (its framing restarts).
 */
static inline int dblat_gate_pass(struct dblat_gate *g, int stream, int on)
{
	if (g->paused) {
		/* Back only at a request: a response would belong to an unseen one. */
		if (!on || stream != DBLAT_STREAM_FE || !g->last_be)
			return 0;
		g->paused = 0;
		g->idle = 0;
		g->outstanding = 0;
		return 2;
	}
	if (!on && g->idle && stream == DBLAT_STREAM_FE) {
		g->paused = 1;
		g->last_be = 0;
		return 0;
	}
	return 1;
}

/* While paused, the order of the buffers skipped: requests go on, then their answers. */
static inline void dblat_gate_skipped(struct dblat_gate *g, int stream)
{
	g->last_be = stream == DBLAT_STREAM_BE;
}

/* After a traced buffer of stream was framed. */
static inline void dblat_gate_after(struct dblat_gate *g, int stream, const struct dblat_gate_seen *s)
{
	if (stream == DBLAT_STREAM_FE) {
		__u32 n = g->outstanding + s->requests;

		g->outstanding = n > 0xffff ? 0xffff : n;
		g->idle = 0;
		return;
	}
	g->outstanding = s->ready >= g->outstanding ? 0 : g->outstanding - s->ready;
	g->idle = s->ends_idle && !g->outstanding;
}

#endif
