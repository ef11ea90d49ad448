/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * When dblat's reader gives up its niceness. It reads at a niceness (10 by
 * default) so that the traced load keeps the CPU when both want it; on a
 * saturated host a niced reader can go unscheduled for longer than its
 * rings last. A ring found a thirty-second full during a poll means it has
 * fallen behind its 20 ms polls: it takes the load's own priority (nice 0)
 * until its rings have stayed under 1/64 for a second. Losing events is
 * worse than taking a fair share of the CPU.
 */
#ifndef DBLAT_READER_PACE_H
#define DBLAT_READER_PACE_H
#include <stdbool.h>
#include <stdint.h>

#define PACE_RAISE (1.0 / 32)
#define PACE_CALM (1.0 / 64)
#define PACE_HOLD_NS 1000000000ull
#define PACE_KEEP 100	/* pace_step: leave the niceness as it is */

struct reader_pace {
	int nice;			/* the niceness asked for */
	bool raised;
	uint64_t since, calm_since;	/* raised at; rings calm since (0: not calm) */
	uint64_t raised_ns;		/* time raised, up to the last return */
	unsigned times;
};

/* The niceness to set now, or PACE_KEEP; backlog: the fullest ring's share in use. */
int pace_step(struct reader_pace *p, double backlog, uint64_t now);
/* The call to set it failed: stay as before. */
void pace_undo(struct reader_pace *p, uint64_t now);
uint64_t pace_raised_ns(const struct reader_pace *p, uint64_t now);
#endif
