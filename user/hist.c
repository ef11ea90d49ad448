// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>
#include "hist.h"

unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63 - __builtin_clzll(v);	/* >= HIST_SUB_BITS + 1 */
	return HIST_LINEAR + (e - HIST_SUB_BITS - 1) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_low(unsigned idx)
{
	unsigned e, sub;

	if (idx < HIST_LINEAR)
		return idx;
	e = (idx - HIST_LINEAR) / HIST_SUB + HIST_SUB_BITS + 1;
	sub = (idx - HIST_LINEAR) % HIST_SUB;
	return (uint64_t)(HIST_SUB + sub) << (e - HIST_SUB_BITS);
}

uint64_t hist_bucket_mid(unsigned idx)
{
	unsigned e;

	if (idx < HIST_LINEAR)
		return idx;
	e = (idx - HIST_LINEAR) / HIST_SUB + HIST_SUB_BITS + 1;
	return hist_bucket_low(idx) + ((1ull << (e - HIST_SUB_BITS)) >> 1);
}

void hist_add_n(struct hist *h, uint64_t ns, uint64_t n)
{
	unsigned i;

	if (!n)
		return;
	if (!h->b) {
		h->b = calloc(HIST_NBUCKETS, sizeof(*h->b));
		if (!h->b)
			return;
	}
	i = hist_bucket(ns);
	h->b[i] = h->b[i] + n > UINT32_MAX ? UINT32_MAX : h->b[i] + (uint32_t)n;
	if (!h->count || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->count += n;
	h->sum += ns * n;
}

void hist_add(struct hist *h, uint64_t ns)
{
	hist_add_n(h, ns, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (!src->count || !src->b)
		return;
	if (!dst->b) {
		dst->b = calloc(HIST_NBUCKETS, sizeof(*dst->b));
		if (!dst->b)
			return;
	}
	for (i = 0; i < HIST_NBUCKETS; i++) {
		uint64_t s = (uint64_t)dst->b[i] + src->b[i];

		dst->b[i] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	}
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
}

void hist_reset(struct hist *h)
{
	if (h->b)
		memset(h->b, 0, HIST_NBUCKETS * sizeof(*h->b));
	h->count = h->sum = h->min = h->max = 0;
}

void hist_free(struct hist *h)
{
	free(h->b);
	memset(h, 0, sizeof(*h));
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->count || !h->b)
		return 0;
	if (q >= 1.0)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank) {
			v = hist_bucket_mid(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}
