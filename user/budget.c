// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <math.h>
#include <string.h>
#include "budget.h"

uint64_t budget_runs_ns(uint64_t runs, uint64_t timed, uint64_t timed_ns)
{
	return timed ? (uint64_t)((double)timed_ns / timed * runs + 0.5) : 0;
}

void budget_init(struct budget *b, double limit_pct, unsigned ncpus)
{
	b->limit = limit_pct / 100.0;
	b->ncpus = ncpus ? ncpus : 1;
	b->hook_factor = BUDGET_HOOK_FACTOR;
	b->full_cost = -1;
	b->peak_cost = 0;
	b->last_cost = -1;
	b->gap_run_ns = 0;
	b->away_cost = 0;
	b->away_dear = false;
	b->pct = 100;
	b->over = 0;
	b->held_over = false;
}

/* Share of the host's CPUs that tracing every call would take from the load, judged by one stretch. */
static double stretch_cost(const struct budget *b, const struct budget_reading *r)
{
	double user = (double)r->user_ns / r->traced_ns;
	double bpf = (r->bpf_ns + r->hook_runs * r->toll_ns) / r->attached_ns;

	return (user + b->hook_factor * bpf) / b->ncpus;
}

/*
 * Up at once in windows, down by half: a load that grows is caught in one
 * window, and one quiet window (a gap between two runs of a load) only
 * doubles the next, which the load pays for if it comes back. (Falling
 * three quarters of the way per window, half every two seconds at one
 * window every four, made pgbench's restarts in the benchmark's 3 s runs
 * windows of 20 to 42%, and the load lost 4 to 8% within them.) While every
 * call is traced, up only as far as the stretch before agrees: one stretch
 * that a burst, an interrupt or a stalled vCPU made dear moves neither the
 * windows (b->over) nor the estimate a report ends on.
 */
static double estimate(const struct budget *b, double cost)
{
	double rise = cost;

	if (cost <= b->full_cost)
		return (b->full_cost + cost) / 2;
	if (b->pct == 100 && b->last_cost >= 0 && b->last_cost < rise)
		rise = b->last_cost;
	return rise > b->full_cost ? rise : b->full_cost;
}

unsigned budget_next(struct budget *b, const struct budget_reading *r)
{
	double cost, want, away;

	/* Nothing to judge by: keep the share. */
	if (!r->traced_ns || !r->attached_ns)
		return b->pct;
	cost = stretch_cost(b, r);
	if (r->away_runs)
		b->gap_run_ns = (double)r->away_bpf_ns / r->away_runs;
	/* Once, not BUDGET_HOOK_FACTOR times: a run that returns at its first test leaves the caches alone. */
	b->away_cost = r->ready_runs * (b->gap_run_ns + r->toll_ns) / r->attached_ns / b->ncpus;
	b->away_dear = b->away_cost >= b->limit * BUDGET_AWAY_MAX;
	b->full_cost = estimate(b, cost);
	b->last_cost = cost;
	if (b->full_cost > b->peak_cost)
		b->peak_cost = b->full_cost;
	if (r->held) {
		b->held_over |= b->full_cost > b->limit;
		b->over = 0;
		return b->pct = 100;
	}
	if (b->pct == 100) {
		/* Stretches in a row, each over it on its own: one burst, however dear, is not a load. */
		b->over = cost > b->limit ? b->over + 1 : 0;
		if (b->over < BUDGET_OVER_PERIODS)
			return 100;
	} else if (b->full_cost < b->limit * BUDGET_BACK) {
		b->over = 0;
		return b->pct = 100;
	}
	/* share * full + (1 - share) * away <= limit; a dear hook leaves with the others. */
	away = b->away_dear ? 0 : b->away_cost;
	want = b->full_cost > away ? floor((b->limit - away) / (b->full_cost - away) * 100) : BUDGET_MAX_PCT;
	b->pct = want < 1 ? 1 : want > BUDGET_MAX_PCT ? BUDGET_MAX_PCT : (unsigned)want;
	return b->pct;
}

double toll_add(struct toll *t, double on_ns, double off_ns)
{
	double v[TOLL_PAIRS], x;
	unsigned i, j;

	t->diff[t->next] = on_ns - off_ns;
	t->next = (t->next + 1) % TOLL_PAIRS;
	if (t->n < TOLL_PAIRS)
		t->n++;
	memcpy(v, t->diff, sizeof(v));
	/* 15 values at most: insertion sort. */
	for (i = 1; i < t->n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	x = t->n % 2 ? v[t->n / 2] : (v[t->n / 2 - 1] + v[t->n / 2]) / 2;
	return x > 0 ? x : 0;
}
