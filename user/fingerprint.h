/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Statement fingerprints in the manner of pg_stat_statements: constants
 * become $n (numbered after the statement's own highest parameter),
 * comments go, runs of white space fold to one space. The fingerprint is
 * what dblat shows, so literal values never leave this function.
 */
#ifndef DBLAT_FINGERPRINT_H
#define DBLAT_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes the fingerprint of sql[0..n) to out (NUL-terminated, at most
 * outsz - 1 bytes) and returns its length. truncated says that sql itself
 * was cut short; an unterminated literal at the end is then dropped and the
 * fingerprint ends with "...".
 */
size_t dblat_fingerprint(const char *sql, size_t n, bool truncated, char *out, size_t outsz);

/* What a statement does for the session, from its fingerprint. */
enum stmt_class {
	STMT_WORK = 0,		/* the application's own statements */
	STMT_TXN,		/* BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE, PREPARE TRANSACTION */
	STMT_SETUP,		/* SET, SHOW, version() and catalog (pg_catalog, pg_type) introspection */
	STMT_RESET,		/* DISCARD ALL, RESET ALL, DEALLOCATE, UNLISTEN *, CLOSE ALL, SELECT pg_advisory_unlock_all() */
	STMT_PING,		/* SELECT 1 / SELECT $1 (fingerprint of a constant-only select), empty query, ";" */
	STMT_MAINT,		/* VACUUM, ANALYZE, CREATE INDEX, REINDEX, CLUSTER, CHECKPOINT */
	STMT_NCLASS,
};
enum stmt_class dblat_classify(const char *fingerprint);
const char *dblat_class_name(enum stmt_class c);

#endif
