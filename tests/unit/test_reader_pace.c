// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* When the event reader gives up its niceness, and when it takes it back. */
#include "check.h"
#include "reader_pace.h"

#define MS 1000000ull

TEST(pace_raises_on_a_backlog_and_holds_while_busy)
{
	struct reader_pace p = { .nice = 10 };

	CHECK_EQ_INT(pace_step(&p, 0.01, 1 * MS), PACE_KEEP);
	CHECK_EQ_INT(pace_step(&p, 0.04, 20 * MS), 0);
	CHECK(p.raised && p.times == 1);
	/* Busy (above 1/64) for as long as the load lasts: stays raised. */
	for (uint64_t t = 40; t < 5000; t += 20)
		CHECK_EQ_INT(pace_step(&p, 0.02, t * MS), PACE_KEEP);
	CHECK(p.raised);
}

TEST(pace_returns_after_a_calm_second)
{
	struct reader_pace p = { .nice = 10 };

	CHECK_EQ_INT(pace_step(&p, 0.5, 100 * MS), 0);
	CHECK_EQ_INT(pace_step(&p, 0.001, 200 * MS), PACE_KEEP);
	/* A busy poll restarts the calm second. */
	CHECK_EQ_INT(pace_step(&p, 0.03, 900 * MS), PACE_KEEP);
	CHECK_EQ_INT(pace_step(&p, 0.001, 1000 * MS), PACE_KEEP);
	CHECK_EQ_INT(pace_step(&p, 0.001, 1900 * MS), PACE_KEEP);
	CHECK_EQ_INT(pace_step(&p, 0.001, 2000 * MS), 10);
	CHECK(!p.raised);
	CHECK(pace_raised_ns(&p, 9000 * MS) == 1900 * MS);
	/* And again. */
	CHECK_EQ_INT(pace_step(&p, 0.2, 3000 * MS), 0);
	CHECK(p.times == 2 && pace_raised_ns(&p, 3500 * MS) == 2400 * MS);
}

TEST(pace_leaves_an_unniced_reader_alone)
{
	struct reader_pace p = { .nice = 0 };

	CHECK_EQ_INT(pace_step(&p, 0.9, 1 * MS), PACE_KEEP);
	p.nice = -5;
	CHECK_EQ_INT(pace_step(&p, 0.9, 2 * MS), PACE_KEEP);
	CHECK(!p.raised && !p.times);
}

/* setpriority refused: the state says what the process really runs at. */
TEST(pace_undo_after_a_refused_change)
{
	struct reader_pace p = { .nice = 10 };

	CHECK_EQ_INT(pace_step(&p, 0.5, 10 * MS), 0);
	pace_undo(&p, 10 * MS);
	CHECK(!p.raised && !p.times && !pace_raised_ns(&p, 50 * MS));
	CHECK_EQ_INT(pace_step(&p, 0.5, 20 * MS), 0);
	CHECK_EQ_INT(pace_step(&p, 0.0, 30 * MS), PACE_KEEP);
	CHECK_EQ_INT(pace_step(&p, 0.0, 1030 * MS), 10);
	pace_undo(&p, 1030 * MS);
	CHECK(p.raised && pace_raised_ns(&p, 1100 * MS) == 1080 * MS);
}
