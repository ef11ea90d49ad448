// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <math.h>
#include <stdlib.h>
#include "check.h"
#include "hist.h"

TEST(hist_bucket_bounds_are_monotonic_and_tight)
{
	uint64_t v;
	unsigned prev = 0;

	for (v = 1; v < (1ull << 40); v += v / 7 + 1) {
		unsigned b = hist_bucket(v);
		uint64_t lo = hist_bucket_low(b), mid = hist_bucket_mid(b);

		CHECK(b < HIST_NBUCKETS);
		CHECK(b >= prev);
		CHECK(lo <= v);
		CHECK(fabs((double)mid - (double)v) / (double)v <= 1.0 / 64);
		prev = b;
	}
	CHECK(hist_bucket(UINT64_MAX) < HIST_NBUCKETS);
}

TEST(hist_quantiles_within_one_percent)
{
	struct hist h = {};
	uint64_t i, n = 100000;

	for (i = 1; i <= n; i++)
		hist_add(&h, i * 1000);		/* 1 us .. 100 ms, uniform */
	CHECK_EQ_INT(h.count, n);
	CHECK_EQ_INT(h.min, 1000);
	CHECK_EQ_INT(h.max, n * 1000);
	CHECK(fabs(hist_quantile(&h, 0.5) / 50000000.0 - 1) < 0.01);
	CHECK(fabs(hist_quantile(&h, 0.99) / 99000000.0 - 1) < 0.01);
	CHECK(fabs(hist_quantile(&h, 0.999) / 99900000.0 - 1) < 0.01);
	CHECK(fabs(hist_mean(&h) / 50000500.0 - 1) < 1e-9);
	CHECK_EQ_INT(hist_quantile(&h, 1.0), n * 1000);
	hist_free(&h);
}

TEST(hist_merge_equals_adding_everything)
{
	struct hist a = {}, b = {}, all = {};
	uint64_t i;

	for (i = 0; i < 5000; i++) {
		uint64_t v = (i * 7919) % 100000 + 50;

		hist_add(i & 1 ? &a : &b, v);
		hist_add(&all, v);
	}
	hist_merge(&a, &b);
	CHECK_EQ_INT(a.count, all.count);
	CHECK_EQ_INT(a.sum, all.sum);
	CHECK_EQ_INT(a.min, all.min);
	CHECK_EQ_INT(a.max, all.max);
	CHECK_EQ_INT(hist_quantile(&a, 0.9), hist_quantile(&all, 0.9));
	hist_reset(&a);
	CHECK_EQ_INT(a.count, 0);
	CHECK_EQ_INT(hist_quantile(&a, 0.5), 0);
	hist_free(&a);
	hist_free(&b);
	hist_free(&all);
}

TEST(hist_empty_and_single)
{
	struct hist h = {};

	CHECK_EQ_INT(hist_quantile(&h, 0.5), 0);
	CHECK(hist_mean(&h) == 0);
	hist_add(&h, 123456);
	CHECK_EQ_INT(hist_quantile(&h, 0.5), 123456);	/* clamped to min/max */
	CHECK_EQ_INT(hist_quantile(&h, 0.99), 123456);
	hist_free(&h);
}
