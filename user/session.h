/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Session lifecycle: connection set-up phases, failures, occupancy,
 * transactions and outages, from the same events the query tracker reads.
 */
#ifndef DBLAT_SESSION_H
#define DBLAT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "dblat.h"
#include "summary.h"

struct conn;
struct collector;
struct pg_msg;
struct done_call;

/* Per-connection session state. */
struct sess {
	uint64_t connect_ns;	/* client: connect() entry; server: TCP established or accept */
	uint64_t fork_ns;	/* server: the backend's fork */
	uint64_t tls_ns, startup_ns, auth_ns, authok_ns, ready_ns;
	uint8_t auth_method;
	bool has_auth, ready, failed, terminated, tls, cancel;
	bool busy, counted_open;
	uint32_t auth_rt;
	uint64_t txn_start, idle_start, idle_acc;
	bool txn_failed;
	bool rollback_tag;	/* the last CommandComplete since the last ReadyForQuery was ROLLBACK */
	bool lost;		/* a live session's loss (fatal error, EOF) was counted */
	bool close_unseen;	/* --sample: its close went by unseen, dated when found */
	struct proc_stats *proc;
};

/* Handshake facts that arrive before the connection is recognised. */
#define SESS_SLOTS 4096

struct sess_connect {
	uint64_t key;		/* tgid << 32 | fd */
	uint64_t start_ns, exit_ns;
	int32_t ret;
	bool postgres_addr;	/* the address looks like a PostgreSQL server */
	uint16_t lport, rport;
};

struct sess_port {
	uint32_t key;		/* lport << 16 | rport, 0 when free */
	uint64_t ts;
};

struct sess_fork {
	uint32_t child;
	uint64_t ts;
};

struct sess_tables {
	struct sess_connect connects[SESS_SLOTS];
	struct sess_port established[SESS_SLOTS];	/* server side, by (server port, client port) */
	struct sess_port accepted[SESS_SLOTS];
	struct sess_port connected[SESS_SLOTS];		/* client side, by (client port, server port) */
	struct sess_fork forks[SESS_SLOTS];
	uint16_t pg_ports[64];				/* server ports seen carrying PostgreSQL */
	uint32_t npg_ports;
	uint32_t open_total, busy_total;		/* client connections, all processes */
};

void session_on_connect(struct collector *c, const struct dblat_event *ev, size_t size);
void session_on_tcp_state(struct collector *c, const struct dblat_event *ev, size_t size);
void session_on_accept(struct collector *c, const struct dblat_event *ev, size_t size);
void session_on_fork(struct collector *c, const struct dblat_event *ev);
void session_on_unadopted_close(struct collector *c, const struct dblat_event *ev);

void session_conn_new(struct collector *c, struct conn *k, uint64_t ts);
void session_conn_info(struct collector *c, struct conn *k);
void session_msg(struct collector *c, struct conn *k, const struct pg_msg *m);
void session_busy(struct collector *c, struct conn *k, bool busy, uint64_t ts);
/* --sample: what k was doing when the hooks left went by unseen: no call or transaction is open. */
void session_cut(struct collector *c, struct conn *k, uint64_t ts);
void session_call_done(struct collector *c, struct conn *k, const struct done_call *d);
void session_end(struct collector *c, struct conn *k, uint64_t ts, bool eof);
void session_finish(struct collector *c, uint64_t ts);

#endif
