/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The one summary model every output format renders: statement statistics
 * keyed by (fingerprint, side, process name), plus tracer counters.
 */
#ifndef DBLAT_SUMMARY_H
#define DBLAT_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include "hist.h"
#include "dblat.h"

enum side { SIDE_CLIENT = 0, SIDE_SERVER = 1 };

struct sqlstate_count {
	char code[6];
	uint64_t n;
};

struct stmt_stats {
	uint32_t fp;			/* fingerprint id */
	uint8_t side;
	char comm[DBLAT_COMM_LEN];
	uint64_t calls, errors, rows;
	struct hist lat;		/* whole run */
	struct hist ival;		/* current live interval */
	uint32_t *pids;
	uint32_t npids, cap_pids;
	struct sqlstate_count *states;
	uint32_t nstates;
	struct stmt_stats *next;	/* hash chain */
};

struct fp_entry {
	char *text;
	uint32_t len;
	uint32_t id;
	uint8_t cls;			/* enum stmt_class */
	struct fp_entry *next;
};

struct tracer_counters {
	uint64_t received;		/* events consumed */
	uint64_t dropped;		/* ring buffer full */
	uint64_t lost_sync;		/* BPF framing lost */
	uint64_t tail_overflow;
	uint64_t resyncs;		/* user framer corrected by BPF */
	uint64_t conns_adopted;
	uint64_t conns_not_pg;		/* adopted by BPF, rejected by the decoder */
	uint64_t unmatched;		/* responses with no request to match */
	uint64_t queue_overflow;
};

struct summary {
	double duration_s;
	uint64_t start_ns, end_ns;
	struct tracer_counters ctr;
	/* fingerprints: id -> text, and a hash for interning */
	struct fp_entry **fps;
	uint32_t nfps, cap_fps;
	struct fp_entry *fp_hash[4096];
	/* statements */
	struct stmt_stats *stmt_hash[4096];
	struct stmt_stats **stmts;	/* insertion order, for stable output */
	uint32_t nstmts, cap_stmts;
};

struct summary *summary_new(void);
void summary_free(struct summary *s);

/* Intern a fingerprint text; returns its id. */
uint32_t summary_intern(struct summary *s, const char *fp, uint32_t len);
const char *summary_fp_text(const struct summary *s, uint32_t id);

struct call {
	uint32_t fp;
	uint8_t side;
	const char *comm;
	uint32_t pid;
	uint64_t lat_ns;
	uint64_t rows;
	bool error;
	const char *sqlstate;	/* may be NULL or "" */
};
void summary_add_call(struct summary *s, const struct call *c);

struct stmt_stats *summary_stmt(struct summary *s, uint32_t fp, uint8_t side, const char *comm);

/* Statements ordered by total time, highest first; caller frees the array. */
struct stmt_stats **summary_sorted(const struct summary *s, uint32_t *n);

const char *side_name(uint8_t side);

#endif
