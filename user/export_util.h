/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Helpers shared by the export writers: checked output files, text made
 * safe for each format, and the summary's processes grouped by name.
 */
#ifndef DBLAT_EXPORT_UTIL_H
#define DBLAT_EXPORT_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include "summary.h"

/* fopen(path, "w"); on failure prints "dblat: cannot write PATH: reason". */
FILE *export_open(const char *path);
/* Flushes and closes; on any write error prints the same message and returns -1. */
int export_close(FILE *f, const char *path);

/*
 * A malloc'd copy of s that is valid UTF-8 (bad bytes become '?') and has
 * no control characters (they become spaces). With frame, ';' becomes ','
 * too, so the text can be one frame of a folded stack. NULL when out of memory.
 */
char *text_clean(const char *s, bool frame);

/* s (cleaned text) escaped for XML/HTML character data and attribute values. */
void xml_escape(FILE *out, const char *s);

/* Name of the flame-graph phase of a statement class (enum stmt_class). */
const char *stmt_phase_name(unsigned cls);

/* The class of a statement's fingerprint. */
unsigned stmt_class_of(const struct summary *s, const struct stmt_stats *st);

/* Processes of one side that share a name, added up. */
struct proc_group {
	uint8_t side;
	char comm[DBLAT_COMM_LEN];
	uint32_t nprocs;
	uint64_t opened, closed, failed[FAIL_N];
	uint64_t txns, aborted;
	uint32_t open_now, busy_now;
	uint32_t max_open, max_busy;	/* sums of each process's maximum: upper bounds */
	struct hist phase[SESS_PHASE_N];
	struct hist txn_dur, idle_in_txn;
};

/* Groups in order of first appearance; NULL with *n = 0 when there are none. */
struct proc_group *proc_groups(const struct summary *s, uint32_t *n);
void proc_groups_free(struct proc_group *g, uint32_t n);

/* Wall-clock time in a short human form: "12.3us", "4.56ms", "1.23s". */
void fmt_duration(char *buf, size_t n, double ns);

#endif
