// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>
#include "window_event.h"

void window_event_make(struct window_event *e, uint64_t start, uint64_t end, uint32_t percent,
		       uint32_t period_ms)
{
	memset(e, 0, sizeof(*e));
	e->ev.kind = DBLAT_EV_WINDOW;
	e->ev.ts_ns = start;
	e->w.start_ns = start;
	e->w.end_ns = end;
	e->w.percent = percent;
	e->w.period_ms = period_ms;
}

void window_event_budget(struct window_event *e, uint32_t budget_ppm, uint32_t period_ms)
{
	window_event_make(e, 0, 0, 100, period_ms);
	e->w.budget_ppm = budget_ppm;
}
