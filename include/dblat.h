/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Records shared by dblat's BPF programs and its user-space collector.
 * Only fixed-width types: this header is compiled for both targets.
 */
#ifndef DBLAT_H
#define DBLAT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define DBLAT_COMM_LEN 16
#define DBLAT_CAP_MAX 4096	/* bytes of one syscall buffer copied out (power of 2) */
#define DBLAT_TAIL_RECS 16	/* framed messages reported beyond the copied bytes */
#define DBLAT_SNIP 52		/* body bytes copied for each of those messages */

enum dblat_ev_kind {
	DBLAT_EV_DATA = 1,	/* bytes moved on an adopted PostgreSQL connection */
	DBLAT_EV_CONN = 2,	/* a connection was adopted: socket identity follows */
	DBLAT_EV_CLOSE = 3,	/* close() of an adopted (or connect()ed) connection's fd */
	DBLAT_EV_EOF = 4,	/* a read returned 0 (the peer closed) or a reset (ret -ECONNRESET, -EPIPE); so did an HTTP write */
	DBLAT_EV_EXIT = 5,	/* a traced process exited */
	DBLAT_EV_CONNECT = 6,	/* connect() on a stream socket returned */
	DBLAT_EV_ACCEPT = 7,	/* accept() returned a stream socket (ret = new fd) */
	DBLAT_EV_FORK = 8,	/* a traced process forked: tid = the child's pid */
	DBLAT_EV_TCP_STATE = 9,	/* TCP handshake ended: ret = new state, fd = old state */
	DBLAT_EV_ACTIVITY = 10,	/* a backend's current statement text (cap_len bytes follow) */
	DBLAT_EV_STAGE = 11,	/* a server-side stage from USDT probes: struct dblat_stage follows */
	DBLAT_EV_HTTP = 12,	/* bytes on an HTTP server connection: the start of a request or response is copied */
	DBLAT_EV_TLS_DATA = 13,	/* plaintext of one SSL_read/SSL_write call: struct dblat_tls_data, then cap_len bytes */
	DBLAT_EV_WINDOW = 14,	/* --sample or a budget: tracing windows opened or closed (made in user space): struct dblat_window */
};

/*
 * EV_WINDOW, three kinds:
 *   start_ns == end_ns == 0: a run traced in windows begins (--sample's
 *     share, or a CPU budget under which every call is traced until its cost
 *     is over it), before any other event;
 *   end_ns == 0: from start_ns connections are traced in windows (percent
 *     under 100) or every call is (100); with DBLAT_WIN_REOPENED the data
 *     hooks were detached until then: every event before it is older, and
 *     calls still open then were cut;
 *   otherwise: connections were traced from start_ns to end_ns, in a window
 *     (they enter and leave between calls: see include/sample_gate.h), or
 *     every call (percent 100, under a budget).
 */
#define DBLAT_WIN_REOPENED (1u << 0)
/* Budget: every call was kept traced over it, for what needs every call (HTTP requests bound). */
#define DBLAT_WIN_HELD (1u << 1)

struct dblat_window {
	__u64 start_ns, end_ns;
	__u32 percent;		/* of each period spent in a window; 100: every call */
	__u32 period_ms;
	__u32 budget_ppm;	/* the declaration's CPU budget, millionths of the host's CPUs; 0: a fixed share */
	__u32 flags;
	__u32 full_cost_ppm;	/* budget: what tracing every call was estimated to cost (millionths of the CPUs) */
	__u32 peak_cost_ppm;	/* ... at most so far */
};

#define DBLAT_HTTP_CAP 256	/* bytes of a request/status line and headers copied */

enum dblat_stage_kind {
	DBLAT_STAGE_PARSE = 1,		/* query__parse__start/done */
	DBLAT_STAGE_PLAN,		/* query__plan__start/done */
	DBLAT_STAGE_EXECUTE,		/* query__execute__start/done */
	DBLAT_STAGE_LOCK_WAIT,		/* lock__wait__start/done */
	DBLAT_STAGE_LWLOCK_WAIT,	/* lwlock__wait__start/done */
	DBLAT_STAGE_BUFFER_READ,	/* a block read that missed shared buffers (smgr__md__read__start/done) */
	DBLAT_STAGE_CHECKPOINT,		/* checkpoint__start/done (checkpointer process) */
	DBLAT_STAGE_DEADLOCK,		/* deadlock__found (instant) */
	DBLAT_STAGE_WAL_INSERT,		/* wal__insert: records still uncounted at the process's exit (count) */
};

/* One server-side stage of backend tgid, timed in BPF (start -> end). */
struct dblat_stage {
	__u64 start_ns, end_ns;
	__u32 kind;		/* enum dblat_stage_kind */
	__u32 lock_mode;	/* LOCKMODE for lock waits */
	__u32 relid;		/* relation OID of a lock wait when the tag names one */
	__u32 count;		/* parse/plan/execute: WAL records inserted since the backend's
				   previous one (and WAL_INSERT at exit); lock waits:
				   LockTagType; buffer reads: 1 */
	char name[32];		/* lwlock tranche name */
};

/* Where a postmaster's backends keep their activity text (see user/pgserver.c). */
struct dblat_be_entry {
	__u64 addr;		/* address of the MyBEEntry pointer in the backends */
	__u32 off_procpid;	/* PgBackendStatus.st_procpid */
	__u32 off_activity;	/* PgBackendStatus.st_activity_raw */
};
#define DBLAT_ACTIVITY_MAX 1024	/* track_activity_query_size's default */

/* TCP states of sock:inet_sock_set_state (include/net/tcp_states.h). */
#define DBLAT_TCP_ESTABLISHED 1
#define DBLAT_TCP_SYN_SENT 2
#define DBLAT_TCP_SYN_RECV 3
#define DBLAT_TCP_CLOSE 7

enum dblat_dir {
	DBLAT_DIR_SEND = 0,	/* the process wrote */
	DBLAT_DIR_RECV = 1,	/* the process read */
};

enum dblat_role {
	DBLAT_ROLE_UNKNOWN = 0,
	DBLAT_ROLE_CLIENT = 1,	/* writes frontend messages, reads backend messages */
	DBLAT_ROLE_SERVER = 2,	/* reads frontend messages, writes backend messages */
	DBLAT_ROLE_HTTP = 3,	/* an HTTP server's end of a client connection */
};

/* Which protocol stream a buffer belongs to. */
enum dblat_stream {
	DBLAT_STREAM_FE = 0,	/* frontend: client to server */
	DBLAT_STREAM_BE = 1,	/* backend: server to client */
};

enum dblat_ev_flags {
	DBLAT_F_RESYNC = 1 << 0,	/* framing (re)starts at byte 0 of this buffer */
	DBLAT_F_TLS = 1 << 1,		/* the connection is encrypted: cap_len <= 8 (the TLS record header), timing only */
	DBLAT_F_UNTYPED = 1 << 2,	/* buffer starts in the untyped startup phase */
	DBLAT_F_TAIL_OVERFLOW = 1 << 3,	/* more framed messages than DBLAT_TAIL_RECS */
	DBLAT_F_LOST = 1 << 4,		/* BPF framing met an impossible header and stopped */
	DBLAT_F_SSL_ANSWER = 1 << 5,	/* buffer starts with the 1-byte SSL/GSS answer */
	DBLAT_F_PLAINTEXT = 1 << 6,	/* complete plaintext of an encrypted connection: frame it in user space */
	DBLAT_F_OFFCPU = 1 << 7,	/* offcpu_us holds the thread's off-CPU clock */
	DBLAT_F_PEER_CLOSED = 1 << 8,	/* EV_HTTP write: the client had already closed its end (TCP);
					   EV_EOF: bytes written were never acknowledged */
	DBLAT_F_CLOSE_UNSEEN = 1 << 9,	/* EV_CLOSE: it went by while --sample's hooks were away:
					   dated when it was found, so its lifetime is unknown */
};

/*
 * EV_TLS_DATA: the plaintext one SSL_read/SSL_write(_ex) call moved
 * (total_len bytes), in records of at most DBLAT_TLS_CHUNK bytes. The
 * connection is not known in BPF: user space binds the call to the
 * encrypted connection its thread moved ciphertext on (see user/tls.c).
 * DBLAT_F_LOST: bytes from off on are missing.
 */
#define DBLAT_TLS_CHUNK 16384
struct dblat_tls_data {
	__u64 ssl;		/* the SSL object: an address in process tgid */
	__u64 call_ns;		/* when the call was entered (the event's ts_ns: when it returned) */
	__u32 off;		/* offset of this record's bytes in the call's */
	__u32 pad;
};

/*
 * A message whose 5-byte header does not lie wholly inside the copied bytes
 * of its buffer. BPF frames the whole buffer (header hops, not a copy), so
 * the collector keeps its position on large results and learns the tags,
 * status bytes and SQLSTATEs that sit past the copy. off may be negative:
 * the header began in the previous buffer (a header split across reads).
 */
struct dblat_tail_rec {
	__s32 off;		/* offset of the type byte in this buffer */
	__u32 len;		/* the message's length field (includes itself) */
	__u8 type;		/* 0 for an untyped startup-phase message */
	__u8 snip_len;		/* bytes of body in snip */
	__u16 rows_before;	/* backend DataRows past the copy between the previous record and this one */
	char snip[DBLAT_SNIP];	/* first bytes of the body */
};

struct dblat_event {
	__u64 ts_ns;		/* CLOCK_MONOTONIC: syscall exit; a send's start (see tcp_send_start) */
	__u64 conn_id;		/* unique per adopted (process, fd) connection */
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u8 kind;		/* enum dblat_ev_kind */
	__u8 dir;		/* enum dblat_dir */
	__u8 role;		/* enum dblat_role */
	__u8 stream;		/* enum dblat_stream */
	__u32 total_len;	/* bytes the syscall moved */
	__u32 cap_len;		/* bytes copied: data[] after the records */
	__u32 skip_in;		/* leading bytes that continue a message begun earlier */
	__u16 nrec;		/* struct dblat_tail_rec entries after data[] */
	__u16 flags;		/* enum dblat_ev_flags */
	__u32 tail_rows;	/* DataRow messages past the copy (not recorded) */
	__u32 tail_other;	/* other messages past the copy that did not fit in records */
	__s32 ret;		/* EV_CONNECT, EV_EOF: the syscall's return value */
	__u32 offcpu_us;	/* DBLAT_F_OFFCPU: the thread's time off CPU so far, in us, modulo 2^32 */
	char comm[DBLAT_COMM_LEN];
	/* followed by __u8 data[cap_len], padded to 8, then struct dblat_tail_rec[nrec] */
};

/* Socket identity of an adopted connection: EV_CONN carries this after the header. */
struct dblat_conn_info {
	__u16 family;		/* AF_INET, AF_INET6 or AF_UNIX */
	__u16 lport;		/* host byte order */
	__u16 rport;
	__u16 pad;
	__u32 ppid;		/* EV_CONN: the process's parent (a backend's postmaster) */
	__u32 pad2;
	__u8 laddr[16];		/* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	__u64 ino;		/* AF_UNIX: an id of this end (the other end's peer_ino) */
	__u64 peer_ino;		/* AF_UNIX: an id of the other end */
	__u64 start_ns;		/* connect() entry time when it was seen, else 0 */
};

/* EV_CONNECT carries the address connect() was given after the conn info. */
#define DBLAT_ADDR_MAX 112
struct dblat_connect_addr {
	__u32 len;
	__u8 addr[DBLAT_ADDR_MAX];	/* struct sockaddr as the caller passed it */
};

static inline __u32 dblat_data_pad(__u32 n) { return (n + 7) & ~7u; }

/* Startup-phase request codes (the int32 after the length). */
#define DBLAT_STARTUP_V3 196608u
#define DBLAT_CANCEL_REQUEST 80877102u
#define DBLAT_SSL_REQUEST 80877103u
#define DBLAT_GSSENC_REQUEST 80877104u

/* Values of the BPF `targets` map. */
enum dblat_target {
	DBLAT_TARGET_NO = 1,	/* seen, and not traced */
	DBLAT_TARGET_PID = 2,	/* named with -p, or forked from such a process */
	DBLAT_TARGET_COMM = 3,	/* its comm matched -c */
};

/* BPF framing state of one protocol stream of one connection. */
struct dblat_frame {
	__u32 skip;		/* body bytes owed to the current message */
	__u8 part_n;		/* bytes of a split header held in part */
	__u8 untyped;		/* frontend startup phase */
	__u8 lost;		/* no known message boundary: resync at a buffer start */
	__u8 started;		/* a buffer of this stream has been seen */
	__u8 part[8];
};

enum dblat_conn_state {
	DBLAT_CONN_PENDING = 0,	/* a stream socket not yet recognised */
	DBLAT_CONN_PG = 1,	/* PostgreSQL: traced */
	DBLAT_CONN_HTTP = 2,	/* the server end of an HTTP/1.x connection: requests timed */
};

/* --sample: where a connection stands between windows (include/sample_gate.h). */
struct dblat_gate {
	__u16 outstanding;	/* requests sent that still await their ReadyForQuery */
	__u8 paused;		/* not traced until a window and a request */
	__u8 idle;		/* last backend buffer ended with ReadyForQuery 'I', nothing outstanding */
	__u8 last_be;		/* paused: the last buffer skipped was the backend's */
	__u8 pad[3];
};

/*
 * Under a CPU budget: what the data hooks cost, per CPU. Every run is
 * counted; one in DBLAT_SELF_TIME_EVERY is timed. Kernel BPF statistics
 * would time every run, and turning them on and off patches the kernel's
 * text, which stalls the host for milliseconds.
 */
struct dblat_self_cost {
	__u64 runs;
	__u64 ready_runs;	/* ... of which the data-ready hook's (it runs on every socket wakeup) */
	__u64 timed;		/* runs timed */
	__u64 timed_ns;		/* their time */
	__u32 countdown;	/* runs until the next timed one */
	__u32 pad;
};

/* A prime: no period of a load's syscalls lines up with it. */
#define DBLAT_SELF_TIME_EVERY 29

/* Value of the BPF `conns` map, keyed by tgid << 32 | fd. */
struct dblat_conn {
	__u64 id;
	__u8 state;		/* enum dblat_conn_state */
	__u8 role;		/* enum dblat_role */
	__u8 tls;		/* encrypted: timing only */
	__u8 tries;		/* buffers seen before it was recognised */
	__u8 be_expect_answer;	/* next backend byte answers SSLRequest/GSSENCRequest */
	__u8 connecting;	/* made by connect(): its close is reported even if unrecognised */
	__u8 tcp;		/* a TCP socket: sends carry the transmit's stamp */
	__u8 activity_budget;	/* server sends that still report the statement text */
	__u64 sk;		/* the struct sock, read for TCP send stamps (never leaves BPF) */
	__u64 peer;		/* a Unix socket's peer struct sock, which its sends wake (never leaves BPF) */
	__u64 last_ts;		/* the time of its last data event */
	__u64 send_ts;		/* a Unix socket's send in progress began then ... */
	__u32 send_tid;		/* ... on this thread */
	__u32 last_sender;	/* a client's: the thread that sent its last bytes */
	__u8 offcpu_timed;	/* it changed threads: its process's threads are timed off CPU */
	struct dblat_frame fr[2];
	/* --sample only, after what every event reads */
	struct dblat_gate gate;
	__u64 ino;		/* the socket file's inode: /proc/PID/fd/FD names it (the sweep) */
};

/* Counters in the BPF stats array, one slot each. */
enum dblat_stat {
	DBLAT_STAT_EVENTS = 0,		/* events written to the ring buffer */
	DBLAT_STAT_DROPS,		/* events lost: ring buffer full */
	DBLAT_STAT_ADOPTED,		/* connections recognised as PostgreSQL */
	DBLAT_STAT_LOST_SYNC,		/* framing lost on a connection */
	DBLAT_STAT_TAIL_OVERFLOW,	/* buffers with more messages than records */
	DBLAT_STAT_CONN_FULL,		/* connection table full: connection not traced */
	DBLAT_STAT_NR,
};

#endif /* DBLAT_H */
