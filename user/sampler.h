/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * --sample: tracing windows on a schedule. A window takes PERCENT of each
 * period, at a random point of it. When one closes, connections leave as
 * their calls end (include/sample_gate.h); once all have (or half the gap
 * to the next window has passed) the data hooks are detached, so between
 * windows the traced load pays nothing. Before the next window the
 * connections that closed meanwhile are swept away.
 */
#ifndef DBLAT_SAMPLER_H
#define DBLAT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct tracer;

struct sampler {
	struct tracer *tr;
	unsigned pct;
	uint64_t period_ns, win_ns;
	uint64_t period_start;		/* the current period began */
	uint64_t open_at, close_at;
	uint64_t opened;		/* the open window's start; 0: none open */
	uint64_t detach_by;		/* after a window: detach the hooks then at the latest; 0: done */
	bool detached;
};

#define SAMPLE_PERIOD_MS 1000

/* Declares the sampled run to the consumer, before any other event. */
void sampler_start(struct sampler *s, struct tracer *tr, unsigned pct, uint64_t now);
/* Opens, closes, detaches what is due; returns ms until the next change (at most max_ms). */
int sampler_tick(struct sampler *s, uint64_t now, int max_ms);
/* The run ends: the open window, if any, closes now (the hooks stay for the final drain). */
void sampler_stop(struct sampler *s, uint64_t now);

#endif
