/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A CPU budget: dblat's own cost (its process, its BPF programs, and the
 * toll each hook run takes from the syscall it rides on) kept under a share
 * of the host's CPUs. After each traced stretch the cost of tracing every
 * call is estimated from what the stretch cost; while that is over the
 * budget, connections are traced in windows of budget / cost of each
 * period (user/sampler.c), and every call again once it is well under.
 * At a host's limit this is what keeps the load's throughput; below it,
 * nothing changes. Pure: the unit tests drive it with readings.
 */
#ifndef DBLAT_BUDGET_H
#define DBLAT_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * What the traced load loses for each unit of the hooks' measured cost
 * (their programs' run time and toll): the runs also cost it caches and a
 * slower path through every syscall, which no counter shows.
 * scripts/bench-overhead.sh measures the loss within traced runs, their
 * rate while the hooks are on against the rate far from them: at pgbench
 * -S's maximum rate on a 2-CPU VM, 10 to 24% while the hooks ran, where
 * dblat's CPU measured 3 points and the hooks 6. The budget is of the
 * load's loss.
 */
#define BUDGET_HOOK_FACTOR 2.0
/* Judgments in a row over the budget before windows begin: a burst of connections is not a load. */
#define BUDGET_OVER_PERIODS 2
/* Every call again once its estimated cost is under this share of the budget. */
#define BUDGET_BACK 0.7
/*
 * The data-ready hook stays between windows while what it would cost there
 * is under this share of the budget. It runs on every socket wakeup on the
 * host: its rate is read in each stretch traced, and each run costs its
 * run time between windows and the toll (about 180 ns in all on a 2-CPU
 * VM, timed directly on a socketpair's write and read). At pgbench -S's
 * maximum rate over a Unix socket that is more than half of a 1% budget;
 * at 10,000 tps, about a fifth.
 */
#define BUDGET_AWAY_MAX 0.5
/* The largest window under a budget: a gap of a tenth of the period lets the hooks go. */
#define BUDGET_MAX_PCT 90

struct budget {
	double limit;		/* share of the host's CPUs, 0..1 */
	unsigned ncpus;
	double hook_factor;	/* BUDGET_HOOK_FACTOR (1 in the unit tests that pin the arithmetic) */
	double full_cost;	/* estimated share tracing every call costs the load (smoothed); < 0: not known yet */
	double peak_cost;	/* the highest estimate so far */
	double last_cost;	/* what the stretch before cost on its own (< 0: none yet) */
	double gap_run_ns;	/* a run of the data-ready hook between windows (the last gap it stayed for; 0: none yet) */
	double away_cost;	/* share its runs would cost between windows, at the last stretch's rate of them */
	bool away_dear;		/* ... too much: it leaves with the others */
	unsigned pct;		/* share of each period traced: 100 every call */
	unsigned over;		/* periods in a row over the limit while every call was traced */
	bool held_over;		/* it was over the limit in a held stretch */
};

/* What one traced stretch cost. */
struct budget_reading {
	uint64_t traced_ns;	/* its length (windows, or a period traced whole) */
	uint64_t user_ns;	/* dblat's CPU time over it and until its events were read */
	uint64_t attached_ns;	/* how long the data hooks were attached over it (0: their cost is not known) */
	uint64_t bpf_ns;	/* their run time meanwhile */
	uint64_t hook_runs;	/* their runs meanwhile */
	uint64_t ready_runs;	/* ... of which the data-ready hook's */
	double toll_ns;		/* what a hook run costs its syscall beyond the program's run time (struct toll) */
	bool held;		/* every call must stay traced whatever it costs (HTTP requests are bound) */
	/* The gap before it, if the data-ready hook stayed (user/tracer.c): its runs there, their time (0: none read). */
	uint64_t away_runs, away_bpf_ns;
};

/*
 * The toll of a hook run, from pairs of timings of a syscall of dblat's own:
 * one just after the hooks came back, one just after they left. A pair's
 * difference is taken a window apart, so the machine's drift barely enters
 * it; the median of the last TOLL_PAIRS rides over a timing that was
 * preempted.
 */
#define TOLL_PAIRS 15

struct toll {
	double diff[TOLL_PAIRS];
	unsigned n, next;
};

/* Adds one pair; the median of those kept, at least 0. */
double toll_add(struct toll *t, double on_ns, double off_ns);

/* Run time of `runs` hook runs, from the `timed` of them that took `timed_ns` in all (0 if none was timed). */
uint64_t budget_runs_ns(uint64_t runs, uint64_t timed, uint64_t timed_ns);

void budget_init(struct budget *b, double limit_pct, unsigned ncpus);
/*
 * Share of each coming period to trace, 1..BUDGET_MAX_PCT or 100 (every
 * call): windows are sized so that they and the gaps between them fit. A
 * held stretch updates the estimate but never counts toward windows: once
 * nothing holds, it takes BUDGET_OVER_PERIODS more.
 */
unsigned budget_next(struct budget *b, const struct budget_reading *r);

#endif
