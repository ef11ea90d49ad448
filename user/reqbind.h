/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Binding database work to the HTTP requests of a traced server (reqbind.c):
 * exactly by thread in thread-per-request servers, by matching checkout
 * periods of pooled connections to responses in event-loop apps.
 */
#ifndef DBLAT_REQBIND_H
#define DBLAT_REQBIND_H

#include <stdbool.h>
#include <stdint.h>
#include "summary.h"

#define RB_PERIOD_STMTS 32

/* One completed client statement. */
struct rb_stmt {
	struct stmt_stats *st;
	uint64_t start, end;
	bool reset;		/* ROLLBACK or a reset statement: it hands the connection back */
};

/* What one pooled connection ran between its checkout and its return. */
struct rb_period {
	uint32_t id;		/* 0: empty */
	uint64_t checkout_ts;	/* its first statement's first byte */
	uint32_t n, overflow;
	struct rb_stmt v[RB_PERIOD_STMTS];
};

struct reqbind;

struct reqbind *reqbind_new(struct summary *s);
void reqbind_free(struct reqbind *rb);

/*
 * A request of process tgid (named comm) arrived at ts on HTTP connection
 * conn, read by thread tid. Returns its handle, 0 when none could be kept.
 */
uint64_t reqbind_arrival(struct reqbind *rb, uint32_t tgid, const char *comm, uint64_t conn,
			 uint32_t tid, uint32_t route, uint64_t ts);
/* A write of its response at ts by thread tid: status from a status line, 0 for more of the body. */
void reqbind_response(struct reqbind *rb, uint32_t tgid, uint64_t h, uint32_t tid, uint64_t ts,
		      uint16_t status);
/* Its response is complete. */
void reqbind_done(struct reqbind *rb, uint32_t tgid, uint64_t h);
/* A response write on a connection whose request was read before tracing began. */
void reqbind_orphan_write(struct reqbind *rb, uint32_t tgid, const char *comm, uint64_t conn, uint64_t ts,
			  bool status_line);
/* Has tgid served an HTTP request yet? */
bool reqbind_serves_http(struct reqbind *rb, uint32_t tgid);
/* Thread tid of tgid completed a client statement. */
void reqbind_thread_call(struct reqbind *rb, uint32_t tgid, uint32_t tid, const struct rb_stmt *x);
/* A pooled connection of tgid went back to its pool; p holds every statement of the period. */
void reqbind_period(struct reqbind *rb, uint32_t tgid, const struct rb_period *p);
/* The run is over: decide what is still pending, pair the rest first come, first served. */
void reqbind_finish(struct reqbind *rb);

#endif
