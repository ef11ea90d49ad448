// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The online-CPU list that decides how many event rings dblat opens. */
#include <stdbool.h>
#include "check.h"
#include "cpulist.h"

TEST(cpulist_ranges_and_singles)
{
	bool set[16];

	CHECK_EQ_INT(cpulist_parse("0-3,8,10-11\n", set, 16), 7);
	CHECK(set[0] && set[3] && set[8] && set[10] && set[11]);
	CHECK(!set[4] && !set[9] && !set[12]);
	CHECK_EQ_INT(cpulist_parse("0", set, 16), 1);
	CHECK(set[0] && !set[1]);
}

/* More CPUs online than possible ones counted: the extra are ignored. */
TEST(cpulist_beyond_possible)
{
	bool set[2];

	CHECK_EQ_INT(cpulist_parse("0-7", set, 2), 2);
	CHECK(set[0] && set[1]);
}

TEST(cpulist_malformed)
{
	bool set[8];

	CHECK_EQ_INT(cpulist_parse("", set, 8), 0);
	CHECK_EQ_INT(cpulist_parse("a", set, 8), -1);
	CHECK_EQ_INT(cpulist_parse("3-1", set, 8), -1);
	CHECK_EQ_INT(cpulist_parse("1-", set, 8), -1);
	CHECK_EQ_INT(cpulist_parse("1;2", set, 8), -1);
	CHECK_EQ_INT(cpulist_parse(NULL, set, 8), -1);
}
