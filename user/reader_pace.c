// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "reader_pace.h"

int pace_step(struct reader_pace *p, double backlog, uint64_t now)
{
	if (p->nice <= 0)
		return PACE_KEEP;
	if (!p->raised) {
		if (backlog < PACE_RAISE)
			return PACE_KEEP;
		p->raised = true;
		p->since = now;
		p->calm_since = 0;
		p->times++;
		return 0;
	}
	if (backlog >= PACE_CALM) {
		p->calm_since = 0;
		return PACE_KEEP;
	}
	if (!p->calm_since)
		p->calm_since = now;
	if (now - p->calm_since < PACE_HOLD_NS)
		return PACE_KEEP;
	p->raised = false;
	p->raised_ns += now - p->since;
	return p->nice;
}

void pace_undo(struct reader_pace *p, uint64_t now)
{
	if (p->raised) {
		p->raised = false;
		p->times--;
	} else {
		p->raised = true;
		p->raised_ns -= now - p->since;
	}
}

uint64_t pace_raised_ns(const struct reader_pace *p, uint64_t now)
{
	return p->raised_ns + (p->raised ? now - p->since : 0);
}
