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
#include "locks.h"

enum side { SIDE_CLIENT = 0, SIDE_SERVER = 1 };

struct sqlstate_count {
	char code[6];
	uint64_t n;
};

/* Where a statement's time went, when both ends or stage probes are traced. */
enum stage {
	STAGE_QUEUE = 0,	/* client send -> backend read */
	STAGE_SERVER,		/* backend read -> its response send */
	STAGE_PARSE,
	STAGE_PLAN,
	STAGE_EXECUTE,
	STAGE_LOCK_WAIT,
	STAGE_REPLY,		/* backend send -> client read */
	STAGE_LWLOCK_WAIT,	/* inside the server: waits for PostgreSQL's internal locks */
	STAGE_BUFFER_READ,	/* inside the server: reads that missed shared buffers */
	STAGE_N,
};

struct stmt_stats {
	uint32_t fp;			/* fingerprint id */
	uint8_t side;
	char comm[DBLAT_COMM_LEN];
	uint64_t calls, errors, rows;
	uint64_t encrypted_calls;	/* calls on encrypted (TLS) connections */
	struct hist lat;		/* whole run */
	struct hist ival;		/* current live interval */
	uint32_t *pids;
	uint32_t npids, cap_pids;
	struct sqlstate_count *states;
	uint32_t nstates;
	struct hist stage[STAGE_N];	/* empty unless measured */
	uint64_t bound_calls, bound_ns;	/* client calls bound to an HTTP request (see reqbind.c) */
	struct stmt_stats *next;	/* hash chain */
};

/* Connection set-up phases, in order; SESS_READY spans them all. */
enum sess_phase {
	SESS_CONNECT = 0,	/* client: connect() called -> first protocol byte sent;
				   server: TCP established (or fork) -> first byte read */
	SESS_TLS,		/* SSLRequest sent -> its answer */
	SESS_STARTUP,		/* StartupMessage sent -> first Authentication message */
	SESS_AUTH,		/* first Authentication message -> AuthenticationOk */
	SESS_INIT,		/* AuthenticationOk -> first ReadyForQuery */
	SESS_READY,		/* connect() (or first byte) -> first ReadyForQuery */
	SESS_PHASE_N,
};

enum fail_reason {
	FAIL_REFUSED = 0,	/* ECONNREFUSED, ENOENT on a socket path */
	FAIL_TIMEOUT,
	FAIL_RESET,		/* reset or EOF before the session was ready */
	FAIL_AUTH,		/* 28P01, 28000 */
	FAIL_TOO_MANY,		/* 53300 */
	FAIL_SHUTDOWN,		/* 57P01-57P03 */
	FAIL_OTHER,
	FAIL_N,
};

struct outage {
	uint64_t start_ns;	/* first failure */
	uint64_t end_ns;	/* first successful statement after it; 0 while ongoing */
	uint64_t failures;
};

/* Sessions, overhead, occupancy and transactions of one process on one side. */
struct proc_stats {
	uint32_t tgid;
	uint8_t side;
	char comm[DBLAT_COMM_LEN];
	uint64_t opened, closed, failed[FAIL_N];
	struct hist phase[SESS_PHASE_N];
	struct hist accept_wait;	/* server: TCP established -> postmaster accept() */
	struct hist backend_start;	/* server: backend fork -> its first ReadyForQuery */
	struct hist lifetime;
	uint64_t auth_count[8];		/* by enum auth_method */
	uint64_t auth_roundtrips;	/* client password/SASL messages */
	uint64_t class_calls[8];	/* by enum stmt_class */
	uint64_t class_ns[8];
	uint32_t open_now, busy_now, max_open, max_busy;
	uint64_t saturated_ns;		/* time with every open connection busy */
	uint64_t last_change_ns;
	uint64_t txns, aborted;
	struct hist txn_dur, commit_lat, idle_in_txn;
	struct outage *outages;
	uint32_t noutages;
	struct proc_stats *next;
};

enum auth_method {
	AUTH_TRUST = 0, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SCRAM, AUTH_GSS, AUTH_OTHER, AUTH_N,
};

/* One second of the run, for time-series plots. */
struct series_point {
	uint64_t calls, errors;		/* client-side statements completed */
	struct hist lat;
	uint32_t open, busy;		/* client connections at the end of the second */
	uint64_t conns_opened;
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
	uint64_t conns_tls;		/* encrypted connections */
	uint64_t conns_tls_plain;	/* ... whose statements came from the TLS probes' plaintext */
	uint64_t conns_tls_timing;	/* ... timed per round trip: no plaintext came */
	uint64_t tls_unbound;		/* plaintext calls no encrypted connection could be found for */
	uint64_t reader_raised;		/* times the reader fell behind and left its niceness for nice 0 */
	uint64_t reader_raised_ns;	/* ... and how long it ran so (live runs; 0 in replays) */
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
	/* per process */
	struct proc_stats *proc_hash[1024];
	struct proc_stats **procs;
	uint32_t nprocs, cap_procs;
	/* per second since start_ns */
	struct series_point *series;
	uint32_t nseries;
	/* marks on the timeline: maintenance statements, checkpoints, outages */
	struct timeline_event *timeline;
	uint32_t ntimeline, cap_timeline;
	struct route_stats *routes;
	uint32_t nroutes;
	struct pool_stats *pools;
	uint32_t npools;
	struct backend_label *labels;
	uint32_t nlabels;
	struct server_waits locks;	/* --server-stages (locks.c) */
	/* --sample, or a budget: connections were traced in windows (include/sample_gate.h) */
	uint32_t sample_pct;		/* the share (a budget's smallest); 0: every call was traced */
	uint32_t sample_pct_max;	/* a budget's largest share */
	uint32_t sample_period_ms;
	uint64_t sample_windows;	/* windows closed */
	uint64_t sampled_ns;		/* their length, summed */
	uint64_t sample_cut;		/* calls cut: open when the hooks were detached after a window */
	double budget_pct;		/* the CPU budget (% of the host's CPUs); 0: none */
	uint64_t full_ns;		/* under it, time every call was traced (stretches ended) */
	uint64_t full_since;		/* ... and the stretch going on began; 0: none */
	uint64_t budget_over_at;	/* the first time it was over the budget; 0: never */
	bool budget_held;		/* over it, every call stayed traced for request binding */
	double full_cost;		/* what tracing every call was last estimated to cost (share of the CPUs) */
	double full_cost_peak;		/* ... at most */
};

#define ROUTE_STATUS_MAX 16

/* How a request's database work, or a pool wait, was bound to its request. */
enum bind_method {
	BIND_EXACT_THREAD = 0,	/* the thread that read the request sent the statements */
	BIND_EXACT_PROXY,	/* a proxy's own queue: request read -> forwarded */
	BIND_DERIVED_ANCHORED,	/* a checkout period matched to the response written at its end */
	BIND_DERIVED_FIFO,	/* no anchor: the k-th unmatched arrival with the k-th checkout */
	BIND_N,
};

/* A statement's share of one route's requests. */
struct route_stmt {
	struct stmt_stats *st;	/* the client statement (its fingerprint and class) */
	uint64_t calls, ns;
	uint64_t after_calls, after_ns;	/* of which after the response was written */
};

/* HTTP requests of one server process, by method and path template. */
struct route_stats {
	uint32_t tgid;
	char comm[DBLAT_COMM_LEN];
	char method[12];
	char route[96];
	uint64_t count;			/* answered */
	uint64_t unread;		/* ... of which the client had gone: reset with it unread, or closed before it */
	uint64_t no_response;		/* read, but the connection closed before any answer */
	struct {
		uint16_t code;
		uint64_t n;
	} status[ROUTE_STATUS_MAX];
	uint32_t nstatus;
	struct hist lat;
	/* requests with database work bound to them, by enum bind_method */
	uint64_t attributed[BIND_N];
	struct hist db;			/* per attributed request: its statements' time */
	struct hist stmts;		/* per attributed request: statements (a count, not ns) */
	struct hist pool_wait;		/* per derived request: arrival -> checkout */
	struct hist app;		/* per attributed request: latency - db before the response - pool wait */
	struct hist after;		/* per attributed request: db time after its response was written */
	struct hist before;		/* ... and before its request was read (stamp slack, see reqbind.c) */
	struct route_stmt *per_stmt;
	uint32_t nper_stmt;
};

/* Pool queue wait of one process (see http.c and reqbind.c for how it is obtained). */
struct pool_stats {
	uint32_t tgid;
	char comm[DBLAT_COMM_LEN];
	bool event_loop;		/* one thread had requests of several connections open */
	uint64_t requests, timed_out;
	uint64_t checkouts;		/* checkout periods with work in them */
	uint64_t waits[BIND_N];		/* waits in `wait`, by how they were paired */
	uint64_t unmatched;		/* checkouts no request could be found for */
	uint64_t unseen;		/* checkouts for requests read before tracing began */
	uint64_t given_up;		/* requests, checkouts or statements dropped: buffers full */
	struct hist wait;		/* derived: request arrival -> its checkout */
	struct hist timed_out_wait;	/* requests answered 503/504 */
	struct hist thread_gap;		/* a thread's previous statement done -> its next one sent */
	struct hist thread_wait;	/* ... the part of it the thread spent off CPU */
	struct hist proxy_wait;		/* a proxy (pgbouncer): client request read -> forwarded to a server */
};

/* Server sessions by what their StartupMessage said. */
struct backend_label {
	char database[64], user[64], application_name[64];
	uint64_t sessions, calls, errors;
	uint64_t time_ns;
};

struct timeline_event {
	uint64_t start_ns, end_ns;	/* end 0: still running at the end */
	char what[48];			/* e.g. "VACUUM", "CHECKPOINT", "outage" */
	char detail[96];		/* fingerprint or process */
};

struct proc_stats *summary_proc(struct summary *s, uint32_t tgid, uint8_t side, const char *comm);
struct series_point *summary_series_at(struct summary *s, uint64_t ts_ns);
void summary_timeline_add(struct summary *s, uint64_t start_ns, uint64_t end_ns,
			  const char *what, const char *detail);
const char *sess_phase_name(int p);
const char *fail_reason_name(int r);
const char *auth_method_name(int m);
const char *stage_name(int st);

/* Seconds over which rates are counted: those traced (all of them unless sampling). */
/* Time traced: all of the run, or its windows and stretches of every call. */
double summary_traced_s(const struct summary *s);
/* Under a budget, time every call was traced (the stretch going on included). */
double summary_full_s(const struct summary *s);
/* A sentence on how the run was traced (windows, a budget), for the reports; 0: every call, nothing to say. */
int summary_sampling_words(const struct summary *s, char *buf, size_t size);

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
	bool encrypted;		/* made on a TLS connection */
};
/* Counts the call; returns its statement's entry (NULL when out of memory). */
struct stmt_stats *summary_add_call(struct summary *s, const struct call *c);

struct stmt_stats *summary_stmt(struct summary *s, uint32_t fp, uint8_t side, const char *comm);

/* Statements ordered by total time, highest first; caller frees the array. */
struct stmt_stats **summary_sorted(const struct summary *s, uint32_t *n);

const char *side_name(uint8_t side);
const char *bind_method_name(int m);	/* "exact-thread", "exact-proxy", "derived-anchored", "derived-fifo" */
/* The pool entry of process tgid, made on first use; NULL when out of memory. */
struct pool_stats *summary_pool(struct summary *s, uint32_t tgid, const char *comm);
/* The pool's own method: exact when the process lets it be measured exactly. */
int pool_method(const struct pool_stats *p);
const struct hist *pool_wait_hist(const struct pool_stats *p);

#endif
