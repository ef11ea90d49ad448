/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* EV_WINDOW records, which user space makes (--sample or a CPU budget: user/sampler.c). */
#ifndef DBLAT_WINDOW_EVENT_H
#define DBLAT_WINDOW_EVENT_H

#include <stdint.h>
#include "dblat.h"

struct window_event {
	struct dblat_event ev;
	struct dblat_window w;
};

/* See struct dblat_window for what start and end say. */
void window_event_make(struct window_event *e, uint64_t start, uint64_t end, uint32_t percent,
		       uint32_t period_ms);
/* The declaration of a run under a CPU budget of budget_ppm (millionths of the host's CPUs). */
void window_event_budget(struct window_event *e, uint32_t budget_ppm, uint32_t period_ms);

#endif
