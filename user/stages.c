// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Server-side stages from PostgreSQL's USDT probes (--server-stages): each
 * stage is credited to the call its backend is serving; checkpoints and
 * deadlocks go on the timeline.
 */
#include <stdio.h>
#include <string.h>
#include "conn.h"

void stages_on_event(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_stage *st = (const void *)(ev + 1);
	uint64_t dur;
	struct conn *k;
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
	default:
		return;
	}
	k = collector_backend_conn(c, ev->tgid);
	if (!k)
		return;
	k->stage_acc[slot] += dur;
	k->stage_seen = true;
}
