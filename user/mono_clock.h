/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Clocks in ns: CLOCK_MONOTONIC, which BPF's bpf_ktime_get_ns() stamps events with, and a thread's CPU time. */
#ifndef DBLAT_MONO_CLOCK_H
#define DBLAT_MONO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The calling thread's CPU time in ns (0 if it cannot be read). */
static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#endif
