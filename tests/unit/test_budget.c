// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The CPU budget: what tracing every call is judged to cost, and the share traced for it. */
#include <math.h>
#include "budget.h"
#include "check.h"

#define MS 1000000ull

/*
 * A stretch traced for traced_ms in which dblat used user_ms of CPU and its
 * programs bpf_ms in 100 ms of it hooked, with runs hook runs at 100 ns of toll each.
 */
static struct budget_reading reading(uint64_t traced_ms, double user_ms, double bpf_ms, uint64_t runs)
{
	struct budget_reading r = {
		.traced_ns = traced_ms * MS,
		.user_ns = (uint64_t)(user_ms * MS),
		.attached_ns = 100 * MS,
		.bpf_ns = (uint64_t)(bpf_ms * MS),
		.hook_runs = runs,
		.toll_ns = 100,
	};

	return r;
}

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

TEST(budget_keeps_every_call_while_it_fits)
{
	struct budget b;
	struct budget_reading r = reading(250, 5, 1, 10000);

	budget_init(&b, 2, 2);
	b.hook_factor = 1;
	/* (5/250 + (1 + 1) / 100) / 2 CPUs = 2% of the host: at the limit, not over it. */
	CHECK_EQ_INT(budget_next(&b, &r), 100);
	CHECK(near(b.full_cost, 0.02));
	CHECK_EQ_INT(budget_next(&b, &r), 100);
}

TEST(budget_windows_sized_to_fit_once_over)
{
	struct budget b;
	/* dblat 16% of a core, BPF 15% and the toll 3%: 17% of two CPUs. */
	struct budget_reading r = reading(250, 40, 15, 30000);

	budget_init(&b, 2, 2);
	b.hook_factor = 1;
	/* One stretch over it could be a burst: every call still. */
	CHECK_EQ_INT(budget_next(&b, &r), 100);
	CHECK(near(b.full_cost, 0.17));
	CHECK_EQ_INT(budget_next(&b, &r), 11);
	/* The toll counts: without it the same stretch costs 15.5%. */
	budget_init(&b, 2, 2);
	b.hook_factor = 1;
	r.toll_ns = 0;
	CHECK_EQ_INT(budget_next(&b, &r), 100);
	CHECK_EQ_INT(budget_next(&b, &r), 12);
}

TEST(budget_rises_at_once_and_falls_by_half)
{
	struct budget b;
	struct budget_reading hi = reading(100, 0, 10, 0), lo = reading(100, 0, 2, 0);

	budget_init(&b, 2, 1);
	b.hook_factor = 1;
	CHECK_EQ_INT(budget_next(&b, &hi), 100);
	CHECK_EQ_INT(budget_next(&b, &hi), 20);
	/* One quiet window: the estimate goes half of the way down, the share follows. */
	CHECK_EQ_INT(budget_next(&b, &lo), 33);
	CHECK(near(b.full_cost, 0.06));
	CHECK(near(b.peak_cost, 0.10));
	CHECK_EQ_INT(budget_next(&b, &hi), 20);
}

TEST(budget_back_to_every_call_only_well_under)
{
	struct budget b;
	struct budget_reading over = reading(100, 0, 4, 0), under = reading(100, 0, 1.6, 0),
			      quiet = reading(100, 0, 0.2, 0);

	budget_init(&b, 2, 1);
	b.hook_factor = 1;
	CHECK_EQ_INT(budget_next(&b, &over), 100);
	CHECK_EQ_INT(budget_next(&b, &over), 50);
	/* 2.8%, 2.2%, then 1.9%: under the limit is not enough (windows as large as may be). */
	CHECK_EQ_INT(budget_next(&b, &under), 71);
	CHECK(near(b.full_cost, 0.028));
	CHECK_EQ_INT(budget_next(&b, &under), 90);
	CHECK_EQ_INT(budget_next(&b, &under), 90);
	/* Under 70% of it: every call again. */
	CHECK_EQ_INT(budget_next(&b, &quiet), 100);
	CHECK(b.full_cost < 0.014);
}

TEST(budget_keeps_its_share_without_a_reading)
{
	struct budget b;
	struct budget_reading over = reading(100, 0, 10, 0), none = reading(100, 50, 0, 0);

	budget_init(&b, 2, 1);
	b.hook_factor = 1;
	CHECK_EQ_INT(budget_next(&b, &over), 100);
	CHECK_EQ_INT(budget_next(&b, &over), 20);
	none.attached_ns = 0;
	CHECK_EQ_INT(budget_next(&b, &none), 20);
	none.attached_ns = 100 * MS;
	none.traced_ns = 0;
	CHECK_EQ_INT(budget_next(&b, &none), 20);
	/* A load far over it: the smallest window, not none. */
	CHECK_EQ_INT(budget_next(&b, &(struct budget_reading){ .traced_ns = MS, .user_ns = 10 * MS,
							   .attached_ns = MS, .bpf_ns = MS }), 1);
}

TEST(budget_a_burst_is_not_a_load)
{
	struct budget b;
	struct budget_reading burst = reading(500, 0, 5, 0), calm = reading(500, 0, 0.05, 0);

	budget_init(&b, 1, 1);
	b.hook_factor = 1;
	/* Connections opening for half a second cost 5%; the next judgment is calm again. */
	CHECK_EQ_INT(budget_next(&b, &burst), 100);
	CHECK_EQ_INT(budget_next(&b, &calm), 100);
	CHECK_EQ_INT(b.over, 0);
	CHECK_EQ_INT(budget_next(&b, &burst), 100);
	CHECK_EQ_INT(b.over, 1);
}

TEST(budget_one_dear_stretch_does_not_move_the_estimate)
{
	struct budget b;
	struct budget_reading calm = reading(500, 0, 0.2, 0), dear = reading(500, 0, 3.5, 0),
			      dearer = reading(500, 0, 5, 0);

	budget_init(&b, 1, 1);
	b.hook_factor = 1;
	CHECK_EQ_INT(budget_next(&b, &calm), 100);
	CHECK(near(b.full_cost, 0.002));
	/* Every call traced, one stretch at 3.5% between calm ones: the estimate stays where it was. */
	CHECK_EQ_INT(budget_next(&b, &dear), 100);
	CHECK(near(b.full_cost, 0.002));
	CHECK_EQ_INT(budget_next(&b, &calm), 100);
	CHECK(near(b.full_cost, 0.002));
	CHECK(near(b.peak_cost, 0.002));
	/* Two in a row: up to the lesser of them, and windows sized by it. */
	CHECK_EQ_INT(budget_next(&b, &dear), 100);
	CHECK_EQ_INT(budget_next(&b, &dearer), 28);
	CHECK(near(b.full_cost, 0.035));
	/* In windows a dearer one counts at once: the load is protected first. */
	CHECK_EQ_INT(budget_next(&b, &(struct budget_reading){ .traced_ns = 100 * MS, .attached_ns = 100 * MS,
							   .bpf_ns = 10 * MS }), 10);
}

TEST(budget_windows_leave_room_for_the_gaps)
{
	struct budget b;
	/* 20% for every call (the hooks counted twice); the data-ready hook ran 20,000 times in the 100 ms hooked (toll 100 ns). */
	struct budget_reading over = reading(100, 0, 10, 0);

	over.ready_runs = 20000;
	budget_init(&b, 1, 1);
	/* The hooks' factor does not apply: a run that returns at once leaves the caches alone. */
	b.hook_factor = 2;
	/* Kept between windows its runs would cost 2% of the CPU: more than half the budget, so it leaves. */
	CHECK_EQ_INT(budget_next(&b, &over), 100);
	CHECK(near(b.away_cost, 0.02));
	CHECK(b.away_dear);
	CHECK_EQ_INT(budget_next(&b, &over), 5);
	/* A quarter of the wakeups, and a gap it stayed for measured 20 ns a run: 0.3%, it stays. */
	over.ready_runs = 2500;
	over.away_runs = 25000;
	over.away_bpf_ns = 500000;
	CHECK_EQ_INT(budget_next(&b, &over), 3);
	CHECK(near(b.gap_run_ns, 20));
	CHECK(near(b.away_cost, 0.003));
	CHECK(!b.away_dear);
	/* Windows and gaps together fit: (1 - 0.3) / (20 - 0.3) of each period. */
	CHECK_EQ_INT(b.pct, 3);
	/* No socket wakes: nothing to leave room for. */
	over.ready_runs = 0;
	over.away_runs = 0;
	CHECK_EQ_INT(budget_next(&b, &over), 5);
	CHECK(near(b.away_cost, 0));
}

TEST(budget_held_stretches_do_not_count)
{
	struct budget b;
	struct budget_reading over = reading(500, 0, 5, 0), held = over;

	held.held = true;
	budget_init(&b, 1, 1);
	b.hook_factor = 1;
	/* Over it while held: every call, and the run is marked as having been over. */
	CHECK_EQ_INT(budget_next(&b, &held), 100);
	CHECK_EQ_INT(budget_next(&b, &held), 100);
	CHECK(b.held_over);
	CHECK_EQ_INT(b.over, 0);
	/* Nothing holds any more: two stretches over it on their own before windows. */
	CHECK_EQ_INT(budget_next(&b, &over), 100);
	CHECK_EQ_INT(budget_next(&b, &over), 20);
}

TEST(budget_toll_is_the_median_of_pairs)
{
	struct toll t = {};

	/* One pair: its difference; a negative one (drift) counts as nothing. */
	CHECK(near(toll_add(&t, 300, 200), 100));
	CHECK(near(toll_add(&t, 180, 200), 40));
	CHECK(near(toll_add(&t, 310, 200), 100));
	/* A timing preempted by the load (900 ns) does not move the median far. */
	CHECK(near(toll_add(&t, 1100, 200), 105));
	CHECK(near(toll_add(&t, 290, 200), 100));
	/* Only the last TOLL_PAIRS count: a new level takes over. */
	for (int i = 0; i < TOLL_PAIRS; i++)
		toll_add(&t, 250, 200);
	CHECK(near(toll_add(&t, 250, 200), 50));
	CHECK_EQ_INT(t.n, TOLL_PAIRS);
	t = (struct toll){};
	CHECK(near(toll_add(&t, 100, 200), 0));
}

TEST(budget_counts_what_the_load_pays)
{
	struct budget b;
	struct budget_reading r = reading(250, 5, 1, 10000);

	/* dblat 2% of a core, its hooks 2% measured and 4% to the load: 3% of two CPUs, over 2%. */
	budget_init(&b, 2, 2);
	CHECK(near(b.hook_factor, 2));
	CHECK_EQ_INT(budget_next(&b, &r), 100);
	CHECK(near(b.full_cost, 0.03));
	CHECK_EQ_INT(budget_next(&b, &r), 66);
}

TEST(budget_runs_timed_stand_for_all)
{
	/* 1,000 runs of which 34 timed (one in 29) at 17,000 ns in all: 500 ns each. */
	CHECK(budget_runs_ns(1000, 34, 17000) == 500000);
	/* None timed (a stretch too short, or no run): no run time is claimed. */
	CHECK(budget_runs_ns(1000, 0, 0) == 0);
	CHECK(budget_runs_ns(0, 0, 0) == 0);
	/* Rounded, not cut: 3 runs at 1/3 ns each. */
	CHECK(budget_runs_ns(3, 3, 1) == 1);
}
