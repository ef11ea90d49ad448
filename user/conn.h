/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The collector's per-connection state, shared by its modules. */
#ifndef DBLAT_CONN_H
#define DBLAT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include "collector.h"
#include "pgwire.h"
#include "session.h"
#include "http.h"
#include "labels.h"
#include "tls.h"
#include "reqbind.h"

#define CONN_HASH 4096
#define MAX_PENDING 4096
#define FP_BUF 8192

/* A frontend message still waiting for its answer. */
struct pending {
	char type;		/* frontend type: Q P B D E C S F */
	uint32_t fp;
	uint64_t ts;		/* when it was sent (client) or read (server) */
	uint64_t batch_ts;	/* first message of its batch */
	uint64_t rows;
	bool error;
	char sqlstate[6];
	char stmt[64];		/* statement name, when its Parse was not seen */
	uint64_t stage[STAGE_N];	/* server stages the backend reported for this message */
	uint32_t tid;		/* the thread that sent it */
	uint32_t period;	/* client: the checkout period it was sent in */
	uint64_t checkout_ts;	/* ... and when that period began */
};

/* A request a proxy process (pgbouncer) read from one of its clients. */
struct proxy_arrival {
	uint32_t tgid;
	uint32_t fp;
	uint64_t ts;
};
#define PROXY_MAX 4096

/* A completed call, as the join sees it. */
struct done_call {
	uint32_t fp;
	uint64_t start, end;
	uint64_t rows;
	bool error;
	char sqlstate[6];
	uint64_t stage[STAGE_N];	/* server stages measured in the backend; UINT64_MAX: not measured */
	uint32_t tid, period;	/* as in struct pending */
	uint64_t checkout_ts;
};

#define JOIN_MAX 64	/* calls a client waits for its server side before it is counted alone */

struct name_fp {
	char *name;
	uint32_t fp;
	struct name_fp *next;
};

struct conn {
	uint64_t id;
	uint32_t tgid;
	int32_t fd;
	uint8_t role;
	bool dead;
	char comm[DBLAT_COMM_LEN];
	struct dblat_conn_info info;
	struct pg_framer fr;
	struct name_fp *stmts;	/* prepared statement name -> fingerprint */
	struct name_fp *portals;
	struct pending *q;	/* ring of pending requests */
	uint32_t qhead, qlen, qcap;
	uint64_t batch_ts;
	uint64_t last_done;
	char txn;		/* last ReadyForQuery status */
	struct sess sess;
	/* the other end of this connection, when both are traced on this host */
	struct conn *peer;
	uint64_t pair_key;
	struct conn *pair_next;
	struct done_call *done;	/* ring: client calls waiting for (or server calls ready to) join */
	uint32_t done_head, done_len;
	uint32_t activity_fp;	/* text the backend reported for the statement it answers */
	char last_unknown[64];	/* the last statement name bound without its Parse */
	uint64_t stage_acc[STAGE_N];	/* stages with no pending message to own them (stages.c) */
	uint64_t stage_carry[STAGE_N];	/* parse and plan of answered Parse/Bind, for their Execute */
	struct conn *backend_next;	/* chain of collector.by_backend */
	void *http;			/* HTTP server connection state (http.c) */
	uint32_t label;			/* 1 + index in summary labels (server side), 0: none */
	uint32_t backup_event;		/* 1 + index of its timeline mark, for dump/backup sessions */
	struct tls_conn *tls;		/* encrypted: what tls.c knows of it */
	bool checked_out;		/* taken from its pool: a statement since the last return */
	uint32_t period;		/* checkout periods so far */
	uint64_t checkout_ts;		/* the current one began */
	struct rb_period *bag;		/* statements of the period being recorded (reqbind.c) */
	bool has_activity;
	struct conn *next;
};

struct collector {
	struct summary *sum;
	struct conn *hash[CONN_HASH];
	uint32_t nconns;
	collector_reject_fn reject;
	void *reject_ctx;
	uint32_t fp_unknown_stmt;
	struct sess_tables st;
	struct conn *pair_hash[CONN_HASH];
	struct conn *by_backend[CONN_HASH];	/* server connections by backend tgid */
	void *tls;				/* threads and SSL objects of encrypted connections (tls.c) */
	uint32_t cur_tid;			/* thread of the event being decoded */
	int64_t cur_offcpu;			/* its off-CPU clock (us, mod 2^32), -1: unknown */
	struct reqbind *rb;			/* statements to HTTP requests */
	struct proxy_arrival *proxy;		/* requests a proxy read and has not forwarded yet */
	uint32_t proxy_head, proxy_len;
	bool windows_now;			/* connections are traced in windows (--sample, over a budget) */
	bool windows_ever;			/* ... and were at some point: ends may enter a window apart */
	struct {
		uint64_t key;			/* tgid << 32 | tid */
		uint64_t done;			/* its last statement completed */
		int64_t done_offcpu;		/* the thread's off-CPU clock then, -1: unknown */
	} threads[CONN_HASH];
	char fpbuf[FP_BUF];
};

void collector_record(struct collector *c, struct conn *k, const struct done_call *d,
		      const uint64_t *stages);
/* Frame a DBLAT_F_PLAINTEXT data event of k (tls.c) and track its messages. */
void collector_feed(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data);
struct conn *collector_conn(struct collector *c, uint64_t id);

/* Server-side stage events (USDT), credited to the backend's call in progress. */
void stages_on_event(struct collector *c, const struct dblat_event *ev, size_t size);
struct conn *collector_backend_conn(struct collector *c, uint32_t tgid);

void join_conn_info(struct collector *c, struct conn *k);
bool join_client_done(struct collector *c, struct conn *k, const struct done_call *d);
void join_server_done(struct collector *c, struct conn *k, const struct done_call *d);
void join_conn_end(struct collector *c, struct conn *k);


#endif
