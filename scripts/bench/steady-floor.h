/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* What steady-floor.bpf.c tallies per end (0 client, 1 server), per CPU. */
#ifndef STEADY_FLOOR_H
#define STEADY_FLOOR_H

#define STEADY_BUCKETS 32

struct tally {
	__u64 calls, errors, rows, ns;
	__u64 hist[STEADY_BUCKETS];	/* log2 of the call's ns */
};

#endif
