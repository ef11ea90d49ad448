/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Tracing windows on a schedule: --sample's fixed share, or the share a CPU
 * budget sets (user/budget.h). A window takes a share of each period, at a
 * random point of it. When one closes, connections leave as their calls end
 * (include/sample_gate.h); once all have (or half the gap to the next
 * window has passed) the data hooks are detached (under a budget the
 * data-ready one may stay, user/tracer.c), so between windows the traced
 * load pays nothing or next to it. Before the next window the connections that
 * closed meanwhile are swept away. Under a budget the run starts with every
 * call traced, goes to windows while that costs more than the budget, and
 * comes back when it fits.
 */
#ifndef DBLAT_SAMPLER_H
#define DBLAT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include "budget.h"
#include "dblat.h"

struct tracer;

struct sampler {
	struct tracer *tr;
	struct budget *budget;		/* NULL: --sample's fixed share */
	unsigned pct;			/* share of each period in a window; 100: every call traced */
	uint64_t period_ns, win_ns;
	uint64_t period_start;		/* the current period began */
	uint64_t open_at, close_at;
	uint64_t opened;		/* the open window's (or stretch of every call's) start; 0: none open */
	uint64_t detach_by;		/* after a window: detach the hooks then at the latest; 0: done */
	bool detached;
	/* Budget: what the stretch traced last cost. */
	bool measuring;			/* a stretch's cost is being read */
	uint64_t user_at;		/* dblat's CPU time when it began */
	/*
	 * ... of which since spent on what tracing every call would not change:
	 * switching the hooks, sweeping and timing cost the same for a window of
	 * any size (a quiet window of 50 ms read as 5% of a CPU with them), and
	 * waiting for events costs the same with none to read (tracer_wait_cpu_ns).
	 */
	uint64_t fixed_ns;
	uint64_t wait_at;		/* the waits' CPU when it began */
	uint64_t events_at;		/* -v: events the programs had written then */
	uint64_t traced_ns;		/* its length, once it ended */
	uint64_t hooked_at;		/* ... and the hooks' cost from when (0: not read) */
	struct dblat_self_cost cost_at;	/* ... which stood at this then */
	bool cost_left_read;		/* the hooks left, the data-ready one staying, ... */
	struct dblat_self_cost cost_left;	/* ... and their cost stood at this */
	uint64_t away_runs, away_bpf_ns;	/* the last gap: the runs of the hook that stays, their time (0: none read) */
	double toll_ns;			/* what a hook run costs its syscall: at start-up, then from pairs */
	double toll_on;			/* a syscall's time since the hooks came back (0: none taken) */
	struct toll toll;
	unsigned untimed_windows;	/* windows since the last one the toll was timed around */
	bool verbose;			/* say each judgment on stderr */
	/* Budget: is there a reason to trace every call whatever it costs now? NULL: none. */
	bool (*hold)(void *ctx);
	void *hold_ctx;
};

#define SAMPLE_PERIOD_MS 1000
/*
 * A budget's windows come every four seconds: each window's coming and
 * going costs the load at its edges (attaching and detaching the hooks
 * patches the kernel's text; on a 2-CPU VM at 7,000 tps calls in the 30 ms
 * at either end of a window took over 2 ms 7 to 9 times as often as calls
 * far from any window), and with the default budget of half a percent a
 * window every four seconds is as long as one every two was at 1%.
 */
#define BUDGET_PERIOD_MS 4000

/* Declares the run to the consumer, before any other event. budget NULL: a fixed share of pct. */
void sampler_start(struct sampler *s, struct tracer *tr, unsigned pct, struct budget *budget, double toll_ns,
		   uint64_t now);
/* Opens, closes, detaches what is due; returns ms until the next change (at most max_ms). */
int sampler_tick(struct sampler *s, uint64_t now, int max_ms);
/* The run ends: the open window, if any, closes now (the hooks stay for the final drain). */
void sampler_stop(struct sampler *s, uint64_t now);
/*
 * A getppid of dblat's own, in ns: the least of ROUNDS timings (one
 * preempted by the load does not count); yield: give the CPU up after each.
 */
double syscall_ns(unsigned rounds, bool yield);
/* Rounds for the toll at start-up, before and after the hooks attach. */
#define STARTUP_TOLL_ROUNDS 80

#endif
