// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Server-side stages from PostgreSQL's USDT probes (--server-stages): each
 * stage is credited to the message of the backend's connection that caused
 * it (parse to a Parse or Query, plan to a Bind or Query, execute and lock
 * waits to an Execute or Query), oldest first: in a pipeline every stage of
 * every statement arrives before the first reply, so a running total per
 * backend would give them all to the first statement. Checkpoints and
 * deadlocks go on the timeline.
 */
#include <stdio.h>
#include <string.h>
#include "conn.h"

static bool owns(char type, int slot)
{
	if (type == 'Q')
		return true;
	switch (slot) {
	case STAGE_PARSE:
		return type == 'P';
	case STAGE_PLAN:
		return type == 'B';
	default:
		return type == 'E';
	}
}

/* The oldest pending message this stage belongs to: the one the backend is on. */
static struct pending *owner(struct conn *k, int slot)
{
	uint32_t i;

	for (i = 0; i < k->qlen; i++) {
		struct pending *p = &k->q[(k->qhead + i) % k->qcap];

		if (!owns(p->type, slot))
			continue;
		/* An Execute whose execute stage is done is not the one waiting now. */
		if (p->type == 'E' && p->stage[STAGE_EXECUTE] && slot != STAGE_PARSE && slot != STAGE_PLAN)
			continue;
		if ((slot == STAGE_PARSE || slot == STAGE_PLAN) && p->type != 'Q' && p->stage[slot])
			continue;
		return p;
	}
	return NULL;
}

void stages_on_event(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_stage *st = (const void *)(ev + 1);
	uint64_t dur;
	struct conn *k;
	struct pending *p;
	int slot = -1;

	if (size < sizeof(*ev) + sizeof(*st))
		return;
	locks_on_stage(&c->sum->locks, st);
	dur = st->end_ns > st->start_ns ? st->end_ns - st->start_ns : 0;
	switch (st->kind) {
	case DBLAT_STAGE_CHECKPOINT:
		summary_timeline_add(c->sum, st->start_ns, st->end_ns, "CHECKPOINT", "checkpointer");
		return;
	case DBLAT_STAGE_DEADLOCK:
		summary_timeline_add(c->sum, st->start_ns, st->start_ns, "deadlock", ev->comm);
		return;
	case DBLAT_STAGE_PARSE:
		slot = STAGE_PARSE;
		break;
	case DBLAT_STAGE_PLAN:
		slot = STAGE_PLAN;
		break;
	case DBLAT_STAGE_EXECUTE:
		slot = STAGE_EXECUTE;
		break;
	case DBLAT_STAGE_LOCK_WAIT:
		slot = STAGE_LOCK_WAIT;
		break;
	case DBLAT_STAGE_LWLOCK_WAIT:
		slot = STAGE_LWLOCK_WAIT;
		break;
	case DBLAT_STAGE_BUFFER_READ:
		slot = STAGE_BUFFER_READ;
		break;
	default:
		return;
	}
	k = collector_backend_conn(c, ev->tgid);
	if (!k)
		return;
	p = owner(k, slot);
	if (p)
		p->stage[slot] += dur;
	else
		k->stage_acc[slot] += dur;
}
