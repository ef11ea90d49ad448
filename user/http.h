/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* HTTP requests of traced servers, and the pool wait derived from them (http.c). */
#ifndef DBLAT_HTTP_H
#define DBLAT_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "dblat.h"

struct collector;
struct conn;
struct done_call;
struct stmt_stats;

void http_on_event(struct collector *c, struct conn *k, const struct dblat_event *ev, size_t size);
/* closed: the connection is gone (else tracing ended with it open). */
void http_conn_end(struct collector *c, struct conn *k, bool closed);
/* The client closed its end of an HTTP connection; lost: the last response never reached it. */
void http_peer_gone(struct conn *k, bool lost);
/* A PostgreSQL client connection of the process was taken from its pool at ts. */
void http_checkout(struct conn *k, uint64_t ts);
/* A client statement of k was recorded as st. */
void http_call_done(struct collector *c, struct conn *k, const struct done_call *d, struct stmt_stats *st);
/* k may have gone back to its pool: its period ends once its last statement is in. */
void http_period_maybe_over(struct collector *c, struct conn *k);
/* k closed or the run ended: whatever its period holds is all it will hold. */
void http_period_over(struct collector *c, struct conn *k);
/* A client thread started a statement (start) or finished one (done). */
void http_thread_start(struct collector *c, struct conn *k, uint32_t tid, uint64_t ts);
void http_thread_done(struct collector *c, struct conn *k, uint32_t tid, uint64_t ts);
/* A proxy (a process that is both server and client) read a request, or forwarded one. */
void http_proxy_in(struct collector *c, struct conn *k, uint32_t fp, uint64_t ts);
void http_proxy_out(struct collector *c, struct conn *k, uint32_t fp, uint64_t ts);
void http_finish(struct collector *c);

#endif
