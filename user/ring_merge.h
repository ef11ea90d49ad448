/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One order out of per-CPU rings. Each CPU's events arrive in the order
 * that CPU wrote them, but a thread that moves between CPUs leaves its
 * events in two rings. Events are held per ring and handed on by their
 * timestamps, a ring's own order kept: a thread's next event is stamped no
 * earlier than its previous one was written, so taking the ring whose head
 * is oldest restores each thread's order, provided nothing stamped before
 * the horizon is still unwritten (the horizon trails the drain by a margin).
 */
#ifndef DBLAT_RING_MERGE_H
#define DBLAT_RING_MERGE_H

#include <stddef.h>
#include <stdint.h>

struct ring_merge;

typedef int (*ring_merge_fn)(void *ctx, void *data, size_t size);

struct ring_merge *ring_merge_new(int nrings);
void ring_merge_free(struct ring_merge *m);
/* Copies an event read from ring r; its key is the dblat_event header's ts_ns. */
int ring_merge_push(struct ring_merge *m, int r, const void *data, size_t size);
/*
 * Hands on, oldest head first, every held event up to the first (in its
 * ring) stamped after horizon_ns (UINT64_MAX: all of them). Returns how
 * many. fn must not push: the event it gets lives in the ring's buffer.
 */
long ring_merge_flush(struct ring_merge *m, uint64_t horizon_ns, ring_merge_fn fn, void *ctx);
size_t ring_merge_held(const struct ring_merge *m);

#endif
