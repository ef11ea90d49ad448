/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Log-linear latency histogram over nanoseconds: exact below 128 ns, then
 * 64 buckets per power of two. Quantiles report a bucket's midpoint, so the
 * relative error is at most 1/128 (under 1%), in fixed memory.
 */
#ifndef DBLAT_HIST_H
#define DBLAT_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_NBUCKETS (HIST_LINEAR + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;		/* ns */
	uint64_t min, max;	/* ns */
	uint32_t *b;		/* HIST_NBUCKETS counters, allocated on first add */
};

void hist_add(struct hist *h, uint64_t ns);
void hist_add_n(struct hist *h, uint64_t ns, uint64_t n);
void hist_merge(struct hist *dst, const struct hist *src);
void hist_reset(struct hist *h);
void hist_free(struct hist *h);
uint64_t hist_quantile(const struct hist *h, double q);	/* ns */
double hist_mean(const struct hist *h);			/* ns */
unsigned hist_bucket(uint64_t ns);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_mid(unsigned idx);

#endif
