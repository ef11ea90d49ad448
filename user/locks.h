/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Server-wide waits and I/O from --server-stages: heavyweight lock waits by
 * lock tag type, mode and relation, deadlocks, LWLock waits by tranche,
 * reads of blocks not in shared buffers, WAL records inserted.
 */
#ifndef DBLAT_LOCKS_H
#define DBLAT_LOCKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "dblat.h"

#define LOCK_GROUPS_MAX 64
#define LWLOCK_GROUPS_MAX 32

struct wait_total {
	uint64_t count, total_ns, max_ns;
};

struct lock_wait_group {
	uint32_t locktag;		/* PostgreSQL's LockTagType */
	uint32_t mode;			/* LOCKMODE */
	uint32_t relid;			/* 0 unless the tag names a relation */
	struct wait_total w;
};

struct lwlock_wait_group {
	char tranche[32];
	struct wait_total w;
};

struct server_waits {
	bool seen;			/* stage events arrived: --server-stages was on */
	struct lock_wait_group locks[LOCK_GROUPS_MAX];
	uint32_t nlocks;
	struct wait_total locks_other;	/* waits past LOCK_GROUPS_MAX groups */
	uint64_t deadlocks;
	struct lwlock_wait_group lwlocks[LWLOCK_GROUPS_MAX];
	uint32_t nlwlocks;
	struct wait_total lwlocks_other;
	struct wait_total reads;	/* blocks read from the kernel: shared buffers missed */
	uint64_t wal_inserts;		/* counted at each process's stage events and exit */
	uint64_t checkpoints;
};

struct summary;

void locks_on_stage(struct server_waits *w, const struct dblat_stage *st);
const char *lock_mode_name(uint32_t mode);
const char *locktag_name(uint32_t locktag);

/* The "locks" and "server_io" members of the JSON report, each followed by ",\n". */
void locks_json(FILE *out, const struct summary *s);

#endif
