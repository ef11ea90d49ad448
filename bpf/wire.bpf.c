// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * PostgreSQL wire tracing from syscall tracepoints.
 *
 * Every hook is a syscall *exit* tracepoint: at exit the saved user
 * registers still hold the call's arguments (fd, buffer, count), so one hit
 * per syscall is enough, and a read's bytes are in the buffer by then.
 * Sockets are recognised as PostgreSQL by what they carry (a startup packet
 * or a well-formed message), never by port, and every other fd is cached as
 * ignored after one look so the common case costs one hash lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "dblat.h"
#include "wire.bpf.h"
#include "shared.bpf.h"
#include "sample_gate.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 cap_fe = 4096;		/* bytes copied of frontend buffers */
const volatile __u32 cap_be = 512;		/* bytes copied of backend buffers */
const volatile bool sampling = false;		/* the window gate is kept (--sample, or a CPU budget) */
__u32 windows_on;				/* ... and connections are traced in windows now */
__u32 sample_on;				/* ... and one is open (user space opens and closes them) */

const volatile bool self_timed = false;		/* a CPU budget reads the data hooks' cost (self_cost) */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dblat_self_cost);
} self_cost SEC(".maps");

/* A timed run longer than this was preempted (syscall tracepoints may sleep): not counted. */
#define SELF_TIME_MAX_NS 200000

/* A data hook begins: counted, and now and then timed (returns its start, else 0; *c its counts). */
static __always_inline __u64 self_cost_begin(struct dblat_self_cost **c, bool ready)
{
	__u32 zero = 0;

	if (!self_timed)
		return 0;
	*c = bpf_map_lookup_elem(&self_cost, &zero);
	if (!*c)
		return 0;
	(*c)->runs++;
	if (ready)
		(*c)->ready_runs++;
	if ((*c)->countdown) {
		(*c)->countdown--;
		return 0;
	}
	(*c)->countdown = DBLAT_SELF_TIME_EVERY - 1;
	return bpf_ktime_get_ns();
}

static __always_inline void self_cost_end(struct dblat_self_cost *c, __u64 start)
{
	__u64 ns;

	if (!start)
		return;
	ns = bpf_ktime_get_ns() - start;
	if (ns < SELF_TIME_MAX_NS) {
		c->timed++;
		c->timed_ns += ns;
	}
}

/* A data hook's work, counted and now and then timed (ready: the data-ready hook's). */
#define self_timed_run(work, ready) ({			\
	struct dblat_self_cost *c_ = NULL;		\
	__u64 start_ = self_cost_begin(&c_, ready);	\
	int rc_ = (work);				\
							\
	if (c_)						\
		self_cost_end(c_, start_);		\
	rc_;						\
})

/* Traced in windows now: what needs every call is off. */
static __always_inline bool sampled(void)
{
	return sampling && *(volatile __u32 *)&windows_on;
}

#ifndef ECONNRESET
#define ECONNRESET 104
#endif
#ifndef EPIPE
#define EPIPE 32
#endif

__u64 next_conn_id = 1;
bool offcpu_on;		/* some process's threads are timed off CPU */

/* Stream sockets being traced or still being recognised; never evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);		/* tgid << 32 | fd */
	__type(value, struct dblat_conn);
} conns SEC(".maps");

/* Everything else a traced process reads or writes: one lookup to skip it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} ignored SEC(".maps");

/*
 * tgids with entries in conns: their exit cleans up and is reported. Their
 * sockets die without close(), so the exit deletes their conns entries:
 * one by one up to the highest fd noted here, or, past EXIT_FDS, by walking
 * the whole map (62 us a walk, measured; a backend's exit paid it).
 */
#define EXIT_FDS 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);	/* the highest fd with a conns entry */
} procs SEC(".maps");

/* A TCP connect's SYN going out, in the connecting thread: when the connect began. */
struct connect_start {
	__u64 ts;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);		/* tid */
	__type(value, struct connect_start);
} connecting SEC(".maps");

/* tgids with an encrypted PostgreSQL connection: the TLS probes (tls.bpf.c) copy only theirs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} tls_procs SEC(".maps");

/* postmaster tgid -> where its backends keep their statement text */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct dblat_be_entry);
} be_entries SEC(".maps");

/*
 * Threads of client processes that hand pooled connections from thread to
 * thread: how long each has been off CPU (asleep, or ready and waiting to
 * run). Between a thread's statements that is its wait for a connection,
 * without the thread's own work.
 */
struct offcpu {
	__u64 since;		/* went to sleep at, 0 while running */
	__u64 total_ns;		/* off CPU so far */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);		/* tid */
	__type(value, struct offcpu);
} offcpu_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);		/* tgid */
	__type(value, __u8);
} offcpu_procs SEC(".maps");

/*
 * The last Unix-socket send that reached its peer on this CPU: when, the
 * peer, and the sending thread (whose syscall exit, as a rule on the same
 * CPU, takes the stamp).
 */
struct unix_queued {
	__u64 ts;
	__u64 peer;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unix_queued);
} unix_queued SEC(".maps");

#define DATA_AREA (2 * DBLAT_CAP_MAX)	/* slack lets masked offsets + sizes stay in bounds */
#define DATA_MASK (DATA_AREA - 1)
#define REC_AREA (DBLAT_TAIL_RECS * sizeof(struct dblat_tail_rec))

struct scratch {
	struct dblat_event ev;
	__u8 data[DATA_AREA + REC_AREA];
	struct dblat_tail_rec recs[DBLAT_TAIL_RECS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* A conns entry was made for tgid's fd. */
static __always_inline void proc_note_fd(__u32 tgid, int fd)
{
	__u32 zero = 0, *max;

	bpf_map_update_elem(&procs, &tgid, &zero, BPF_NOEXIST);
	max = bpf_map_lookup_elem(&procs, &tgid);
	if (max && (__u32)fd > *max)
		*max = fd;
}

static long drop_conn_of(struct bpf_map *map, __u64 *key, struct dblat_conn *c, __u32 *tgid)
{
	if ((__u32)(*key >> 32) == *tgid)
		bpf_map_delete_elem(map, key);
	return 0;
}

static void drop_conns_of(__u32 tgid, __u32 max)
{
	__u32 fd;
	__u64 key;

	if (max >= EXIT_FDS) {
		bpf_for_each_map_elem(&conns, drop_conn_of, &tgid, 0);
		return;
	}
	for (fd = 0; fd <= max && fd < EXIT_FDS; fd++) {
		key = ((__u64)tgid << 32) | fd;
		bpf_map_delete_elem(&conns, &key);
	}
}

/* ---- who is traced ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(dbl_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 *t, v = DBLAT_TARGET_PID;

	struct dblat_event ev = {};

	if (ptgid == ctgid)
		return 0;
	if (filter_targets) {
		t = bpf_map_lookup_elem(&targets, &ptgid);
		if (t && *t == DBLAT_TARGET_PID)
			bpf_map_update_elem(&targets, &ctgid, &v, BPF_ANY);
		target_forget(ctgid);
	}
	/* A postmaster's fork starts a backend's session. */
	if (!is_target(ptgid))
		return 0;
	ev.kind = DBLAT_EV_FORK;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.tgid = ptgid;
	ev.tid = ctgid;
	bpf_probe_read_kernel_str(ev.comm, sizeof(ev.comm), parent->comm);
	emit(&ev, sizeof(ev));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(dbl_exec, struct task_struct *p)
{
	__u32 tgid = p->tgid;
	__u8 *t;

	if (!filter_targets)
		return 0;
	/* A new program may carry a target comm: decide again at its next syscall. */
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (t && *t != DBLAT_TARGET_PID)
		bpf_map_delete_elem(&targets, &tgid);
	target_forget(tgid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(dbl_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid, *max_fd;
	struct dblat_event ev = {};

	if (p->pid != tgid)
		return 0;
	if (filter_targets) {
		__u8 *t = bpf_map_lookup_elem(&targets, &tgid);

		if (t && *t != DBLAT_TARGET_PID)
			bpf_map_delete_elem(&targets, &tgid);
		target_forget(tgid);
	}
	max_fd = bpf_map_lookup_elem(&procs, &tgid);
	if (!max_fd)
		return 0;
	drop_conns_of(tgid, *max_fd);
	bpf_map_delete_elem(&procs, &tgid);
	bpf_map_delete_elem(&tls_procs, &tgid);
	bpf_map_delete_elem(&offcpu_procs, &tgid);
	ev.kind = DBLAT_EV_EXIT;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.tgid = tgid;
	ev.tid = p->pid;
	bpf_probe_read_kernel_str(ev.comm, sizeof(ev.comm), p->comm);
	emit(&ev, sizeof(ev));
	return 0;
}

/* The header every event of the current task (id: its pid_tgid) starts with; the rest is zero. */
static __always_inline void ev_begin_id(struct dblat_event *ev, __u8 kind, __u64 ts, __u64 conn_id, int fd,
					__u8 role, __u64 id)
{
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->ts_ns = ts;
	ev->conn_id = conn_id;
	ev->tgid = id >> 32;
	ev->tid = (__u32)id;
	ev->fd = fd;
	ev->role = role;
}

static __always_inline void ev_begin(struct dblat_event *ev, __u8 kind, __u64 ts, __u64 conn_id, int fd,
				     __u8 role)
{
	ev_begin_id(ev, kind, ts, conn_id, fd, role, bpf_get_current_pid_tgid());
}

/* ---- sockets ---- */

static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fdarr;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fdarr = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fdarr[fd]);
	return f;
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The stream socket behind fd, if it is INET, INET6 or UNIX. */
static __always_inline struct sock *fd_stream_sock(int fd, struct file **filep)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *f = fd_file(task, fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != 1 /* SOCK_STREAM */)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != 1 /* AF_UNIX */ && family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */)
		return NULL;
	if (filep)
		*filep = f;
	return sk;
}

static __always_inline __u64 sock_id(const void *sk)
{
	__u64 x = (__u64)sk ^ 0x9e3779b97f4a7c15ull;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static __always_inline void fill_conn_info(struct dblat_conn_info *ci, struct sock *sk, struct file *f)
{
	ci->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (ci->family == 2) {
		ci->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		ci->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		BPF_CORE_READ_INTO(ci->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(ci->raddr, sk, __sk_common.skc_daddr);
	} else if (ci->family == 10) {
		ci->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		ci->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		BPF_CORE_READ_INTO(ci->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(ci->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		struct unix_sock *u = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(u, peer);

		/*
		 * The server's end has no file until the postmaster accepts it, but
		 * the client writes its startup packet before that: name both ends
		 * by their struct sock instead, scrambled so no kernel address leaves.
		 */
		ci->ino = sock_id(sk);
		if (peer)
			ci->peer_ino = sock_id(peer);
	}
}

/* ---- protocol framing ---- */

static __always_inline bool fe_type(__u8 t)
{
	switch (t) {
	case 'B': case 'C': case 'D': case 'E': case 'F': case 'H': case 'P':
	case 'Q': case 'S': case 'X': case 'c': case 'd': case 'f': case 'p':
		return true;
	}
	return false;
}

static __always_inline bool be_type(__u8 t)
{
	switch (t) {
	case '1': case '2': case '3': case 'A': case 'C': case 'D': case 'E':
	case 'G': case 'H': case 'I': case 'K': case 'N': case 'R': case 'S':
	case 'T': case 'V': case 'W': case 'Z': case 'c': case 'd': case 'n':
	case 's': case 't': case 'v':
		return true;
	}
	return false;
}

static __always_inline bool type_ok(int stream, __u8 t)
{
	return stream == DBLAT_STREAM_FE ? fe_type(t) : be_type(t);
}

static __always_inline __u32 be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

#define MAX_MSG_LEN (1u << 30)
#define MAX_STARTUP_LEN 10000

static __always_inline bool startup_code_ok(__u32 code)
{
	return code == DBLAT_STARTUP_V3 || code == DBLAT_SSL_REQUEST ||
	       code == DBLAT_GSSENC_REQUEST || code == DBLAT_CANCEL_REQUEST;
}

/* A source of stream bytes: up to 4 user segments (1 for read/write). */
struct segs {
	__u64 base[4];
	__u32 len[4];
	__u32 n;
	__u64 id;	/* the calling task's pid_tgid: read once per syscall */
};

/*
 * The segment readers are global functions: the verifier checks them once,
 * not at every inlined call site (four segments times every call site in the
 * framing loop is more states than it allows).
 */
struct hdrbuf {
	__u8 b[16];
};

__noinline int seg_read(const struct segs *s, __u32 off, struct hdrbuf *dst, __u32 n)
{
	__u32 i, pos = 0, in;

	if (!s || !dst || n > 8)
		return -1;
	for (i = 0; i < 4; i++) {
		if (i >= s->n)
			break;
		if (off < pos + s->len[i]) {
			in = off - pos;
			if (in + n > s->len[i])
				return -1;
			barrier_var(n);
			n &= 15;
			return bpf_probe_read_user(dst->b, n, (void *)(s->base[i] + in));
		}
		pos += s->len[i];
	}
	return -1;
}

/* Copies up to n (<= DBLAT_SNIP) body bytes at off into r->snip; returns the count. */
__noinline int seg_read_snip(const struct segs *s, __u32 off, struct dblat_tail_rec *r, __u32 n)
{
	__u32 i, pos = 0, in, avail;

	if (!s || !r)
		return 0;
	for (i = 0; i < 4; i++) {
		if (i >= s->n)
			break;
		if (off < pos + s->len[i]) {
			in = off - pos;
			avail = s->len[i] - in;
			if (n > avail)
				n = avail;
			barrier_var(n);
			n &= 63;
			if (n > DBLAT_SNIP)
				n = DBLAT_SNIP;
			return bpf_probe_read_user(r->snip, n, (void *)(s->base[i] + in)) ? 0 : (int)n;
		}
		pos += s->len[i];
	}
	return 0;
}

struct walk {
	struct segs segs;
	struct dblat_frame fr;		/* this stream's state, written back after the walk */
	__u8 expect_answer;		/* an SSLRequest went by: the backend answers next */
	__u32 total;
	__u32 cap;
	__s32 off;			/* next header position */
	__u32 rows_since_rec;
	__u32 tail_rows;
	__u32 tail_other;
	__u16 nrec;
	__u16 flags;
	int stream;
	bool done;
	struct dblat_gate_seen seen;	/* --sample only */
};

/* --sample: note a message header for the connection's gate (include/sample_gate.h). */
static __always_inline void gate_note(struct walk *w, __u8 t, bool last, __u8 status)
{
	if (w->stream == DBLAT_STREAM_FE) {
		w->seen.requests += dblat_gate_request(t);
	} else if (t == 'Z') {
		w->seen.ready++;
		w->seen.ends_idle = last && status == 'I';
	} else {
		w->seen.ends_idle = 0;
	}
}

/* Read n (<= 8) header bytes at off: from the copy when it is there. */
static __always_inline int hdr_read(struct walk *w, struct scratch *sc, __u32 off, struct hdrbuf *dst, __u32 n)
{
	if (n > 8)
		return -1;
	if (off + n <= w->cap) {
		/* The copy area has slack: read 8 and let the caller use n. */
		__builtin_memcpy(dst->b, &sc->data[off & (DBLAT_CAP_MAX - 1)], 8);
		return 0;
	}
	return seg_read(&w->segs, off, dst, n);
}

static __always_inline void add_rec(struct walk *w, struct scratch *sc, __s32 off, __u32 len, __u8 type, __u32 hdr_len)
{
	struct dblat_tail_rec *r;
	__u32 idx = w->nrec, body = off + hdr_len, n = 0;

	/* A split header is always recorded, so the collector can find the next boundary. */
	if (w->stream == DBLAT_STREAM_BE && type == 'D' && off >= 0) {
		w->rows_since_rec++;
		w->tail_rows++;
		return;
	}
	if (idx >= DBLAT_TAIL_RECS) {
		w->tail_other++;
		w->flags |= DBLAT_F_TAIL_OVERFLOW;
		return;
	}
	r = &sc->recs[idx & (DBLAT_TAIL_RECS - 1)];
	r->off = off;
	r->len = len;
	r->type = type;
	r->rows_before = w->rows_since_rec > 0xffff ? 0xffff : w->rows_since_rec;
	w->rows_since_rec = 0;
	if (len > 4 && body < w->total) {
		n = len - 4;
		if (n > w->total - body)
			n = w->total - body;
		if (n > DBLAT_SNIP)
			n = DBLAT_SNIP;
		n = seg_read_snip(&w->segs, body, r, n);
	}
	r->snip_len = n;
	w->nrec = idx + 1;
}

/* One message header: a global function, so the verifier checks it once. */
__noinline long walk_one(struct walk *w)
{
	struct dblat_frame *fr;
	struct scratch *sc;
	__u32 zero = 0, hdr_len, len, code = 0, have;
	struct hdrbuf hb = {}, rest = {}, cb = {};
	__u8 *hdr = hb.b, t = 0;
	__s32 off, end;

	if (!w)
		return 1;
	fr = &w->fr;
	off = w->off;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc || off >= (__s32)w->total)
		return 1;
	hdr_len = fr->untyped ? 4 : 5;

	if (fr->part_n) {
		/* A header split across buffers: finish it from this one. */
		__u32 need = hdr_len - fr->part_n, k;

		if (need > 4 || need == 0)
			goto lost;
		if (w->total < need) {
			if (hdr_read(w, sc, 0, &hb, w->total))
				goto lost;
			for (k = 0; k < 4; k++)
				if (k < w->total && fr->part_n + k < 8)
					fr->part[(fr->part_n + k) & 7] = hdr[k & 7];
			fr->part_n += w->total;
			return 1;
		}
		if (hdr_read(w, sc, 0, &rest, need))
			goto lost;
		{
			__u64 r = *(__u64 *)rest.b;	/* x86 is little-endian: byte i is bits 8i.. */

			for (k = 0; k < 8; k++)
				hdr[k] = k < fr->part_n ? fr->part[k] :
					 (__u8)(r >> (((k - fr->part_n) & 7) * 8));
		}
		off = -(__s32)fr->part_n;
		fr->part_n = 0;
	} else {
		have = w->total - off;
		if (have < hdr_len) {
			__u32 k;

			if (hdr_read(w, sc, off, &hb, have))
				goto lost;
			for (k = 0; k < 8; k++)
				fr->part[k] = hdr[k];
			fr->part_n = have;
			return 1;
		}
		if (hdr_read(w, sc, off, &hb, hdr_len))
			goto lost;
	}

	if (fr->untyped) {
		len = be32(hdr);
		if (len < 8 || len > MAX_STARTUP_LEN)
			goto lost;
		if (off + 8 <= (__s32)w->total) {
			if (hdr_read(w, sc, off + 4, &cb, 4) == 0)
				code = be32(cb.b);
		}
		if (off < 0 || off + 4 > (__s32)w->cap)
			add_rec(w, sc, off, len, 0, 4);
		if (code == DBLAT_STARTUP_V3 || (!code && len > 16))
			fr->untyped = 0;
		else if (code == DBLAT_SSL_REQUEST || code == DBLAT_GSSENC_REQUEST || (!code && len == 8))
			w->expect_answer = 1;
		end = off + len;
	} else {
		t = hdr[0];
		len = be32(&hdr[1]);
		if (len < 4 || len > MAX_MSG_LEN || !type_ok(w->stream, t))
			goto lost;
		if (off < 0 || off + 5 > (__s32)w->cap)
			add_rec(w, sc, off, len, t, 5);
		end = off + 1 + len;
		/* The status byte is known when the copy holds it. */
		if (sampling)
			gate_note(w, t, end == (__s32)w->total, off >= 0 && off + 6 <= (__s32)w->cap ? hdr[5] : 0);
	}
	if (end >= (__s32)w->total) {
		fr->skip = end - w->total;
		return 1;
	}
	w->off = end;
	return 0;
lost:
	fr->lost = 1;
	fr->part_n = 0;
	fr->skip = 0;
	w->flags |= DBLAT_F_LOST;
	stat_inc(DBLAT_STAT_LOST_SYNC);
	return 1;
}

static long walk_step(__u32 i, void *arg)
{
	return walk_one(arg) ? 1 : 0;
}

#define MAX_HOPS 65536
#define SEND_STAMP_MAX_NS 1000000ull

/*
 * Decide whether a buffer can start a PostgreSQL stream: a startup packet,
 * or a typed message whose successor (when it lies in the buffer) is also
 * well formed. Returns the stream the bytes belong to, or -1.
 */
static __always_inline int classify_one(struct scratch *sc, __u32 cap, __u32 total, int dir, bool *untyped)
{
	__u8 *d = sc->data;
	__u32 len, len2, code;
	__u8 t, t2;
	int stream;

	*untyped = false;
	if (cap < 5)
		return -1;
	len = be32(d);
	if (cap >= 8 && len >= 8 && len <= MAX_STARTUP_LEN) {
		code = be32(d + 4);
		if (startup_code_ok(code)) {
			*untyped = true;
			return DBLAT_STREAM_FE;
		}
	}
	t = d[0];
	len = be32(d + 1);
	if (len < 4 || len > (16u << 20))
		return -1;
	if (fe_type(t) && !be_type(t))
		stream = DBLAT_STREAM_FE;
	else if (be_type(t) && !fe_type(t))
		stream = DBLAT_STREAM_BE;
	else if (fe_type(t)) {
		/* Ambiguous type byte: a postgres process reads frontend messages. */
		char comm[DBLAT_COMM_LEN] = {};
		bool server;

		bpf_get_current_comm(comm, sizeof(comm));
		server = comm[0] == 'p' && comm[1] == 'o' && comm[2] == 's' && comm[3] == 't' &&
			 comm[4] == 'g' && comm[5] == 'r' && comm[6] == 'e' && comm[7] == 's';
		stream = (server == (dir == DBLAT_DIR_RECV)) ? DBLAT_STREAM_FE : DBLAT_STREAM_BE;
	} else
		return -1;
	if (1 + len + 5 <= cap) {
		__u32 o = (1 + len) & DATA_MASK;

		t2 = d[o];
		len2 = be32(&d[(o + 1) & DATA_MASK]);
		if (!type_ok(stream, t2) || len2 < 4 || len2 > MAX_MSG_LEN)
			return -1;
	} else if (1 + len < total && 1 + len + 5 > cap && cap == total) {
		return -1;
	}
	return stream;
}

/*
 * The statement a backend is answering, from its PgBackendStatus: the only
 * place a prepared statement's text survives when its Parse went by before
 * dblat attached. Sent before the response's data event.
 */
__noinline int emit_activity(__u64 conn_id, __u32 tgid, int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&scratch_map, &zero);
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct dblat_be_entry *be = bpf_map_lookup_elem(&be_entries, &ppid);
	__u64 entry = 0, text = 0;
	__s32 pid = 0;
	long n;

	if (!be || !sc)
		return 0;
	if (bpf_probe_read_user(&entry, sizeof(entry), (void *)be->addr) || !entry)
		return 0;
	if (bpf_probe_read_user(&pid, sizeof(pid), (void *)(entry + (be->off_procpid & 0xfff))) ||
	    pid != (__s32)tgid)
		return 0;
	if (bpf_probe_read_user(&text, sizeof(text), (void *)(entry + (be->off_activity & 0xfff))) || !text)
		return 0;
	n = bpf_probe_read_user_str(sc->data, DBLAT_ACTIVITY_MAX, (void *)text);
	if (n <= 1)
		return 0;
	ev_begin(&sc->ev, DBLAT_EV_ACTIVITY, bpf_ktime_get_ns(), conn_id, fd, DBLAT_ROLE_SERVER);
	sc->ev.cap_len = n - 1;
	n = sizeof(sc->ev) + dblat_data_pad(n - 1);
	barrier_var(n);
	if (n > sizeof(sc->ev) + DBLAT_ACTIVITY_MAX)
		n = sizeof(sc->ev) + DBLAT_ACTIVITY_MAX;
	if (n > 0)
		emit(sc, n);
	return 0;
}

/* Returns the stream, with bit 4 set for an untyped (startup) message; -1 if not PostgreSQL. */
/* A global function: the verifier checks it once, not on every path into it. */
__noinline int classify(struct scratch *sc, __u32 cap, __u32 total, int dir)
{
	bool u = false, *untyped = &u;
	int r;

	if (!sc)
		return -1;
	r = classify_one(sc, cap, total, dir, untyped);
	return r < 0 ? -1 : r | (u ? 16 : 0);
}

/* An HTTP/1.x request line: the method token and a space. */
static __always_inline bool http_status_line(const __u8 *d, __u32 n)
{
	return n >= 12 && d[0] == 'H' && d[1] == 'T' && d[2] == 'T' && d[3] == 'P' && d[4] == '/' &&
	       d[5] == '1' && d[6] == '.' && d[8] == ' ';
}

static __always_inline bool http_request(const __u8 *d, __u32 n)
{
	if (n < 8)
		return false;
	switch (d[0]) {
	case 'G':
		return d[1] == 'E' && d[2] == 'T' && d[3] == ' ';
	case 'P':
		return (d[1] == 'O' && d[2] == 'S' && d[3] == 'T' && d[4] == ' ') ||
		       (d[1] == 'U' && d[2] == 'T' && d[3] == ' ') ||
		       (d[1] == 'A' && d[2] == 'T' && d[3] == 'C' && d[4] == 'H' && d[5] == ' ');
	case 'D':
		return d[1] == 'E' && d[2] == 'L' && d[3] == 'E' && d[4] == 'T' && d[5] == 'E' && d[6] == ' ';
	case 'H':
		return d[1] == 'E' && d[2] == 'A' && d[3] == 'D' && d[4] == ' ';
	case 'O':
		return d[1] == 'P' && d[2] == 'T' && d[3] == 'I' && d[4] == 'O' && d[5] == 'N' && d[6] == 'S';
	}
	return false;
}

static __always_inline __u32 copy_segs(struct scratch *sc, const struct segs *s, __u32 cap)
{
	__u32 i, got = 0;

	for (i = 0; i < 4; i++) {
		__u32 n;

		if (i >= s->n || got >= cap)
			break;
		n = s->len[i];
		if (n > cap - got)
			n = cap - got;
		barrier_var(n);
		n &= 2 * DBLAT_CAP_MAX - 1;
		if (n > DBLAT_CAP_MAX)
			n = DBLAT_CAP_MAX;
		if (bpf_probe_read_user(&sc->data[got & (DBLAT_CAP_MAX - 1)], n, (void *)s->base[i]))
			break;
		got += n;
	}
	return got;
}

/*
 * At a client's FIN: were all the bytes written to it acknowledged? A FIN
 * acknowledges all the data its sender's kernel took in, so bytes still
 * unacknowledged then reached a socket already closed (its kernel answers
 * them with a reset the server may never read).
 */
static __always_inline bool sent_unacked(__u64 sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	return BPF_CORE_READ(tp, snd_una) != BPF_CORE_READ(tp, write_seq);
}

/*
 * HTTP server traffic: every read and write is timed (a response's last byte
 * ends its request), but bytes are copied only where a request or status line
 * starts.
 */
static __always_inline void emit_http(struct scratch *sc, struct dblat_conn *c, struct segs *segs,
				      int dir, int fd, __u32 total)
{
	__u32 n = total < DBLAT_HTTP_CAP ? total : DBLAT_HTTP_CAP;

	n = copy_segs(sc, segs, n);
	if (dir == DBLAT_DIR_RECV ? !http_request(sc->data, n) : !http_status_line(sc->data, n))
		n = 0;
	ev_begin(&sc->ev, DBLAT_EV_HTTP, bpf_ktime_get_ns(), c->id, fd, DBLAT_ROLE_HTTP);
	/*
	 * A response written after the client's FIN came in: a client that
	 * closed has gone (its kernel answers the bytes with a reset), and the
	 * server may read the FIN and never see that reset. On loopback that
	 * reset is often in before the write returns: CLOSE_WAIT has become
	 * CLOSE.
	 */
	if (dir == DBLAT_DIR_SEND && n && c->tcp && c->sk) {
		struct sock *sk = (struct sock *)c->sk;

		if (BPF_CORE_READ(sk, __sk_common.skc_state) != DBLAT_TCP_ESTABLISHED)
			sc->ev.flags = DBLAT_F_PEER_CLOSED;
	}
	sc->ev.dir = dir;
	sc->ev.total_len = total;
	sc->ev.cap_len = n;
	emit(sc, (sizeof(sc->ev) + dblat_data_pad(n)) & 1023);
}

/* EV_CONN: who a newly recognised connection is, before its first bytes. */
static __always_inline void conn_event(struct scratch *sc, struct dblat_conn *c, int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dblat_conn_info *ci = (void *)sc->data;
	struct file *f = NULL;
	struct sock *sk = fd_stream_sock(fd, &f);

	ev_begin(&sc->ev, DBLAT_EV_CONN, bpf_ktime_get_ns(), c->id, fd, c->role);
	/* The process's name, not this thread's: reports group by process. */
	BPF_CORE_READ_STR_INTO(&sc->ev.comm, task, group_leader, comm);
	__builtin_memset(ci, 0, sizeof(*ci));
	if (sk) {
		fill_conn_info(ci, sk, f);
		ci->ppid = BPF_CORE_READ(task, real_parent, tgid);
		c->sk = (__u64)sk;
		c->ino = f ? BPF_CORE_READ(f, f_inode, i_ino) : 0;
		c->tcp = ci->family != 1;
		/* A stream socket's peer never changes: read it once. */
		if (!c->tcp)
			c->peer = (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer);
	}
	emit(sc, sizeof(sc->ev) + sizeof(*ci));
}

/*
 * A request starts when its first byte is handed to the kernel, and on
 * loopback the peer may read it before the send returns. TCP stamps the
 * transmit it starts inside the send (tcp_clock_cache, CLOCK_MONOTONIC ns):
 * that time, unless it is stale (this send transmitted nothing yet).
 * Unix sockets have no such stamp: once user space has seen one, it
 * attaches dbl_send_enter, which stamps their sends at entry. Until then
 * (and for a send that raced the attach) a send is stamped at return, and
 * user space moves a joined request's start back to the backend's read.
 */
static __always_inline __u64 tcp_send_start(struct dblat_conn *c)
{
	__u64 now = bpf_ktime_get_ns(), t = 0;
	struct tcp_sock *tp = (struct tcp_sock *)c->sk;

	if (!bpf_core_field_exists(tp->tcp_clock_cache))
		return now;
	t = BPF_CORE_READ(tp, tcp_clock_cache);
	/*
	 * A receive refreshes the stamp too, and a send held back (autocorking)
	 * does not: a stamp from before this connection's last event is not
	 * this send's.
	 */
	return t > c->last_ts && t <= now && now - t < SEND_STAMP_MAX_NS ? t : now;
}

/* When a data event happened: a read's return, a send's first byte. */
static __always_inline __u64 data_ts(struct dblat_conn *c, int dir, __u32 tid)
{
	if (dir != DBLAT_DIR_SEND)
		return bpf_ktime_get_ns();
	if (c->tcp)
		return tcp_send_start(c);
	if (c->send_tid == tid && c->send_ts)
		return c->send_ts;
	{
		__u32 zero = 0;
		struct unix_queued *q = bpf_map_lookup_elem(&unix_queued, &zero);
		if (q && q->tid == tid && q->ts > c->last_ts && c->peer && q->peer == c->peer)
			return q->ts;
	}
	return bpf_ktime_get_ns();
}

/*
 * The usual small buffer is copied whole: hop over its first headers in the
 * copy, without the loop helper. What is left (many messages, a bad header)
 * goes to walk_one, which knows every case.
 */
#define QUICK_HOPS 8

static __always_inline void hop_copied(struct walk *w, struct scratch *sc)
{
	__u32 off = w->off, end, len, k;
	__u8 t;

	for (k = 0; k < QUICK_HOPS; k++) {
		if (off + 5 > w->total)
			break;
		t = sc->data[off & (DBLAT_CAP_MAX - 1)];
		len = be32(&sc->data[(off + 1) & (DBLAT_CAP_MAX - 1)]);
		if (len < 4 || len > MAX_MSG_LEN || !type_ok(w->stream, t))
			break;
		end = off + 1 + len;
		if (sampling)
			gate_note(w, t, end == w->total, end == w->total ? sc->data[(off + 5) & (DBLAT_CAP_MAX - 1)] : 0);
		if (end >= w->total) {
			w->fr.skip = end - w->total;
			w->done = true;
			return;
		}
		off = end;
	}
	w->off = off;
}

/*
 * A client connection changed threads: its process shares a pool, and a
 * thread's time off CPU between statements is its wait for a connection.
 * Timed from here, in BPF: a burst of waits at the pool's start would be
 * over before user space could react.
 */
static __always_inline void time_offcpu(struct dblat_conn *c, __u32 tgid)
{
	__u8 one = 1;

	bpf_map_update_elem(&offcpu_procs, &tgid, &one, BPF_ANY);
	c->offcpu_timed = 1;
	offcpu_on = true;
}

/*
 * A global function: the verifier checks it once, whatever the caller knows
 * about dir and the buffer's shape (inlined, that is past its limit).
 * c is NULL for a socket not seen before.
 */
__noinline int on_data(struct dblat_conn *c, int dir, int fd, struct segs *segs, long ret)
{
	__u64 id = segs ? segs->id : 0;
	__u32 tgid = id >> 32, zero = 0, cap, total = ret;
	__u64 key = ((__u64)tgid << 32) | (__u32)fd;
	struct dblat_conn nc = {};
	struct scratch *sc;
	struct dblat_frame *fr;
	struct walk w = {};
	struct file *f = NULL;
	struct sock *sk;
	bool untyped = false, fresh = false;
	int stream;

	if (!segs)
		return 0;
	if (!c) {
		__u8 one = 1;

		sk = fd_stream_sock(fd, &f);
		if (!sk) {
			bpf_map_update_elem(&ignored, &key, &one, BPF_ANY);
			return 0;
		}
		if (bpf_map_update_elem(&conns, &key, &nc, BPF_NOEXIST))
			stat_inc(DBLAT_STAT_CONN_FULL);
		proc_note_fd(tgid, fd);
		c = bpf_map_lookup_elem(&conns, &key);
		if (!c)
			return 0;
	}
	if (ret <= 0) {
		if (c->state != DBLAT_CONN_PENDING &&
		    (dir == DBLAT_DIR_RECV || (ret < 0 && c->state == DBLAT_CONN_HTTP))) {
			struct dblat_event ev = {};

			ev_begin_id(&ev, DBLAT_EV_EOF, bpf_ktime_get_ns(), c->id, fd, c->role, id);
			ev.ret = ret;
			if (!ret && c->state == DBLAT_CONN_HTTP && c->tcp && c->sk && sent_unacked(c->sk))
				ev.flags = DBLAT_F_PEER_CLOSED;
			emit(&ev, sizeof(ev));
		}
		return 0;
	}

	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc)
		return 0;

	if (c->state == DBLAT_CONN_HTTP) {
		emit_http(sc, c, segs, dir, fd, total);
		return 0;
	}
	if (c->state == DBLAT_CONN_PENDING) {
		__u32 peek = total < 64 ? total : 64;

		peek = copy_segs(sc, segs, peek);
		stream = classify(sc, peek, total, dir);
		untyped = stream >= 0 && (stream & 16);
		if (stream >= 0)
			stream &= 1;
		/*
		 * An HTTP server's connection, known by a request it reads or (for
		 * one already busy when we came) by a status line it writes.
		 */
		if (stream < 0 && !sampled() &&
		    (dir == DBLAT_DIR_RECV ? http_request(sc->data, peek) : http_status_line(sc->data, peek))) {
			c->state = DBLAT_CONN_HTTP;
			c->role = DBLAT_ROLE_HTTP;
			c->id = __sync_fetch_and_add(&next_conn_id, 1);
			conn_event(sc, c, fd);
			emit_http(sc, c, segs, dir, fd, total);
			return 0;
		}
		if (stream < 0) {
			if (++c->tries >= 8) {
				__u8 one = 1;

				bpf_map_update_elem(&ignored, &key, &one, BPF_ANY);
				bpf_map_delete_elem(&conns, &key);
			}
			return 0;
		}
		c->state = DBLAT_CONN_PG;
		c->id = __sync_fetch_and_add(&next_conn_id, 1);
		c->role = (stream == DBLAT_STREAM_FE) == (dir == DBLAT_DIR_SEND) ?
			DBLAT_ROLE_CLIENT : DBLAT_ROLE_SERVER;
		c->fr[stream & 1].untyped = untyped;
		/* Joined mid-session: its prepared statements were parsed before we came. */
		if (c->role == DBLAT_ROLE_SERVER && !untyped)
			c->activity_budget = 255;
		fresh = true;
		stat_inc(DBLAT_STAT_ADOPTED);

		/* Tell user space who this connection is before its first bytes. */
		conn_event(sc, c, fd);
	}

	stream = (c->role == DBLAT_ROLE_CLIENT) == (dir == DBLAT_DIR_SEND) ?
		DBLAT_STREAM_FE : DBLAT_STREAM_BE;
	fr = &c->fr[stream & 1];
	if (c->activity_budget && dir == DBLAT_DIR_SEND && c->role == DBLAT_ROLE_SERVER) {
		c->activity_budget--;
		emit_activity(c->id, tgid, fd);
	}

	ev_begin_id(&sc->ev, DBLAT_EV_DATA, data_ts(c, dir, (__u32)id), c->id, fd, c->role, id);
	if (c->role == DBLAT_ROLE_CLIENT && dir == DBLAT_DIR_SEND) {
		/* A pool's wait needs every statement: not when sampling. */
		if (!sampled() && c->last_sender && c->last_sender != (__u32)id && !c->offcpu_timed)
			time_offcpu(c, tgid);
		c->last_sender = id;
	}
	if (offcpu_on && c->role == DBLAT_ROLE_CLIENT) {
		__u32 tid = id;
		struct offcpu *o = bpf_map_lookup_elem(&offcpu_threads, &tid);

		if (o) {
			sc->ev.offcpu_us = o->total_ns / 1000;
			sc->ev.flags = DBLAT_F_OFFCPU;
		}
	}
	c->send_ts = 0;
	c->last_ts = sc->ev.ts_ns > c->last_ts ? sc->ev.ts_ns : c->last_ts;
	sc->ev.dir = dir;
	sc->ev.stream = stream;
	sc->ev.total_len = total;

	if (c->tls) {
		/* A TLS record header's content type tells the handshake from application data. */
		cap = copy_segs(sc, segs, total < 8 ? total : 8);
		sc->ev.cap_len = cap;
		sc->ev.flags |= DBLAT_F_TLS;
		emit(sc, sizeof(sc->ev) + (cap ? 8 : 0));
		return 0;
	}

	cap = stream == DBLAT_STREAM_FE ? cap_fe : cap_be;
	if (cap > total)
		cap = total;
	if (cap > DBLAT_CAP_MAX)
		cap = DBLAT_CAP_MAX;
	cap = copy_segs(sc, segs, cap);
	sc->ev.cap_len = cap;

	w.segs = *segs;
	w.total = total;
	w.cap = cap;
	w.stream = stream;

	if (stream == DBLAT_STREAM_BE && c->be_expect_answer) {
		/* The 1-byte answer to SSLRequest/GSSENCRequest has no header. */
		__u8 a = sc->data[0];

		c->be_expect_answer = 0;
		w.flags |= DBLAT_F_SSL_ANSWER;
		if (!fr->started)
			w.flags |= DBLAT_F_RESYNC;
		fr->started = 1;
		fr->lost = 0;
		fr->skip = 0;
		fr->part_n = 0;
		if (a == 'S' || a == 'G') {
			__u8 one = 1;

			c->tls = 1;
			bpf_map_update_elem(&tls_procs, &tgid, &one, BPF_ANY);
			goto out;
		}
		if (a != 'N' || total == 1)
			goto out;
		w.off = 1;
		goto walk;
	}
	if (!fr->started || fr->lost) {
		/* (Re)start framing only where a buffer starts with a message. */
		if (!fresh) {
			int cl = classify(sc, cap, total, dir);

			if (cl < 0 || (cl & 1) != stream) {
				w.flags |= DBLAT_F_LOST;
				goto out;
			}
			fr->untyped = (cl & 16) != 0;
		}
		fr->started = 1;
		fr->lost = 0;
		fr->skip = 0;
		fr->part_n = 0;
		w.flags |= DBLAT_F_RESYNC;
	}
	if (fr->untyped)
		w.flags |= DBLAT_F_UNTYPED;

	sc->ev.skip_in = fr->skip < total ? fr->skip : total;
	if (fr->skip >= total) {
		fr->skip -= total;
		goto out;
	}
	w.off = fr->skip;
	fr->skip = 0;
walk:
	w.fr = *fr;
	if (total <= cap && !w.fr.part_n && !w.fr.untyped)
		hop_copied(&w, sc);
	if (!w.done)
		bpf_loop(MAX_HOPS, walk_step, &w, 0);
	*fr = w.fr;
	if (w.expect_answer)
		c->be_expect_answer = 1;

out:
	if (sampling)
		dblat_gate_after(&c->gate, stream, &w.seen);
	sc->ev.flags |= w.flags;
	sc->ev.nrec = w.nrec;
	sc->ev.tail_rows = w.tail_rows;
	sc->ev.tail_other = w.tail_other;
	if (w.flags & DBLAT_F_TAIL_OVERFLOW)
		stat_inc(DBLAT_STAT_TAIL_OVERFLOW);
	{
		__u32 pad = dblat_data_pad(cap) & (DATA_AREA - 1);
		__u32 rb = (w.nrec & (DBLAT_TAIL_RECS * 2 - 1)) * sizeof(struct dblat_tail_rec);

		__u64 size;

		if (rb > REC_AREA)
			rb = REC_AREA;
		barrier_var(rb);
		if (rb)
			bpf_probe_read_kernel(&sc->data[pad], rb, sc->recs);
		size = sizeof(sc->ev) + pad + rb;
		barrier_var(size);
		if (size > sizeof(*sc))
			size = sizeof(*sc);
		emit(sc, size);
	}
	return 0;
}

/* ---- syscall hooks ---- */

static __always_inline void one_seg(struct segs *s, __u64 buf, long ret)
{
	s->base[0] = buf;
	s->len[0] = ret > 0 ? ret : 0;
	s->n = 1;
}

/* Fill segments from a user iovec array, clipped to the bytes moved. */
static __always_inline void iov_segs(struct segs *s, const struct iovec *iov, __u64 cnt, long ret)
{
	__u64 left = ret > 0 ? ret : 0;
	__u32 i;

	s->n = 0;
	for (i = 0; i < 4; i++) {
		struct iovec v;

		if (i >= cnt || !left)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		s->base[i] = (__u64)v.iov_base;
		s->len[i] = v.iov_len < left ? v.iov_len : left;
		left -= s->len[i];
		s->n = i + 1;
	}
}

enum buf_shape { BUF_FLAT, BUF_IOVEC, BUF_MSGHDR };

/* --sample: leave this buffer alone (include/sample_gate.h)? */
static __always_inline bool sample_skips(struct dblat_conn *c, int dir, long ret)
{
	bool on = *(volatile __u32 *)&sample_on;
	int stream, pass;

	/* Between windows nothing new is taken up: the hooks can go once the open calls end. */
	if (!c || c->state == DBLAT_CONN_PENDING)
		return !on;
	/* Encrypted, its calls' boundaries are not seen: it cannot be sampled whole. */
	if (c->tls)
		return *(volatile __u32 *)&windows_on;
	if (c->state != DBLAT_CONN_PG || ret <= 0)
		return false;
	stream = (c->role == DBLAT_ROLE_CLIENT) == (dir == DBLAT_DIR_SEND) ? DBLAT_STREAM_FE : DBLAT_STREAM_BE;
	pass = dblat_gate_pass(&c->gate, stream, on);
	if (!pass) {
		dblat_gate_skipped(&c->gate, stream);
		return true;
	}
	if (pass == 2) {
		/* Buffers went by unseen: frame again from a message start. */
		c->fr[0].lost = c->fr[0].started;
		c->fr[1].lost = c->fr[1].started;
	}
	return false;
}

/* A read or write of any shape finished: skip what is not ours, then frame it. */
static __always_inline int data_exit(struct pt_regs *regs, int dir, int shape, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), key;
	struct dblat_conn *c;
	struct segs s = { .id = id };
	int fd;

	/*
	 * Cheapest rejections first: most reads on a busy host are EAGAIN or not
	 * ours. A read that finds a reset is kept: -ECONNRESET, or -EPIPE when
	 * the peer's FIN came before its reset (TCP in CLOSE_WAIT).
	 */
	if (ret < 0 && ret != -ECONNRESET && ret != -EPIPE)
		return 0;
	if (filter_targets && !is_target(id >> 32))
		return 0;
	fd = regs->di;
	key = (id & ~0xffffffffull) | (__u32)fd;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c && (bpf_map_lookup_elem(&ignored, &key) || !is_target(id >> 32)))
		return 0;
	/*
	 * A reset peer: one that closed with our last write unread, as a rule.
	 * An HTTP server may learn it from a write and never read again.
	 */
	if (ret < 0) {
		if (c && (dir == DBLAT_DIR_RECV || c->state == DBLAT_CONN_HTTP))
			on_data(c, dir, fd, &s, ret);
		return 0;
	}
	if (sampling && sample_skips(c, dir, ret))
		return 0;
	if (shape == BUF_FLAT) {
		one_seg(&s, regs->si, ret);
	} else if (shape == BUF_IOVEC) {
		iov_segs(&s, (const struct iovec *)regs->si, regs->dx, ret);
	} else {
		struct user_msghdr mh;

		if (bpf_probe_read_user(&mh, sizeof(mh), (void *)regs->si))
			return 0;
		iov_segs(&s, mh.msg_iov, mh.msg_iovlen, ret);
	}
	on_data(c, dir, fd, &s, ret);
	return 0;
}

static __always_inline void emit_close(struct dblat_conn *c, int fd, __u16 flags)
{
	struct dblat_event ev = {};

	if (c->state == DBLAT_CONN_PENDING && !c->connecting)
		return;
	ev_begin(&ev, DBLAT_EV_CLOSE, bpf_ktime_get_ns(), c->id, fd, c->role);
	ev.flags = flags;
	emit(&ev, sizeof(ev));
}

/*
 * close() gives the fd number back before its exit hook runs: another
 * thread may have accepted a new socket on it meanwhile. Such an entry is
 * ended when the new socket arrives (accept_exit, connect_exit), and the
 * late close must then leave the new socket's entry alone.
 */
static __always_inline int on_close(int fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (id & ~0xffffffffull) | (__u32)fd;
	struct dblat_conn *c = bpf_map_lookup_elem(&conns, &key);

	if (!c) {
		bpf_map_delete_elem(&ignored, &key);
		return 0;
	}
	if (c->sk && c->sk == (__u64)fd_stream_sock(fd, NULL))
		return 0;
	emit_close(c, fd, 0);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* A new socket at fd: an entry left there by a close still in flight is ended. */
static __always_inline void end_stale(__u64 key, int fd, struct sock *sk)
{
	struct dblat_conn *c = bpf_map_lookup_elem(&conns, &key);

	bpf_map_delete_elem(&ignored, &key);
	if (!c || (sk && c->sk == (__u64)sk))
		return;
	/* Sampled, the close may have gone by while the hooks were away. */
	emit_close(c, fd, sampled() ? DBLAT_F_CLOSE_UNSEEN : 0);
	bpf_map_delete_elem(&conns, &key);
}

/*
 * connect() returned (at once for a Unix socket or a non-blocking one, after
 * the handshake otherwise). Its arguments are still in the saved registers.
 * A TCP connect began when its SYN went out (dbl_tcp_state); a Unix one
 * takes microseconds, so its return stands for its start.
 */
static __always_inline int connect_exit(struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	__u32 tid = (__u32)id, tgid = id >> 32, zero = 0, len = regs->dx;
	int fd = regs->di;
	struct connect_start *cs;
	struct dblat_connect_addr *a;
	struct scratch *sc;
	struct dblat_conn_info *ci;
	struct file *f = NULL;
	struct sock *sk;
	__u64 key = (id & ~0xffffffffull) | (__u32)fd;

	if (!is_target(tgid))
		return 0;
	sk = fd_stream_sock(fd, &f);
	/* A reused fd number starts a new connection; a second connect() is replaced below. */
	end_stale(key, fd, sk);
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sk || !sc)
		return 0;
	ev_begin(&sc->ev, DBLAT_EV_CONNECT, now, 0, fd, 0);
	sc->ev.ret = ret;
	bpf_get_current_comm(sc->ev.comm, sizeof(sc->ev.comm));
	ci = (void *)sc->data;
	__builtin_memset(ci, 0, sizeof(*ci) + sizeof(*a));
	fill_conn_info(ci, sk, f);
	ci->start_ns = now;
	cs = bpf_map_lookup_elem(&connecting, &tid);
	if (cs) {
		if (cs->sk == (__u64)sk && cs->ts <= now)
			ci->start_ns = cs->ts;
		bpf_map_delete_elem(&connecting, &tid);
	}
	a = (void *)(ci + 1);
	if (len > DBLAT_ADDR_MAX)
		len = DBLAT_ADDR_MAX;
	barrier_var(len);
	len &= 127;
	if (len > DBLAT_ADDR_MAX)
		len = DBLAT_ADDR_MAX;
	if (bpf_probe_read_user(a->addr, len, (void *)regs->si) == 0)
		a->len = len;
	emit(sc, sizeof(sc->ev) + sizeof(*ci) + sizeof(*a));
	{
		struct dblat_conn nc = { .connecting = 1, .sk = (__u64)sk };

		nc.ino = f ? BPF_CORE_READ(f, f_inode, i_ino) : 0;

		bpf_map_update_elem(&conns, &key, &nc, BPF_ANY);
		proc_note_fd(tgid, fd);
	}
	return 0;
}

/* A postmaster's accept(): the accept-queue wait ends here. */
static __always_inline int accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, zero = 0;
	struct scratch *sc;
	struct dblat_conn_info *ci;
	struct file *f = NULL;
	struct sock *sk;

	if (ret < 0 || !is_target(tgid))
		return 0;
	sk = fd_stream_sock(ret, &f);
	end_stale((id & ~0xffffffffull) | (__u32)ret, ret, sk);
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sk || !sc)
		return 0;
	ev_begin(&sc->ev, DBLAT_EV_ACCEPT, bpf_ktime_get_ns(), 0, ret, 0);
	sc->ev.ret = ret;
	bpf_get_current_comm(sc->ev.comm, sizeof(sc->ev.comm));
	ci = (void *)sc->data;
	__builtin_memset(ci, 0, sizeof(*ci));
	fill_conn_info(ci, sk, f);
	emit(sc, sizeof(sc->ev) + sizeof(*ci));
	return 0;
}

#define MSG_PEEK 2

/*
 * Syscalls by x86-64 number. One raw sys_exit tracepoint replaces a
 * tracepoint per syscall: per-syscall events go through perf's record
 * building on every hit, which cost more than the programs themselves. At
 * exit the saved registers still hold the arguments, so nothing hooks the
 * entry: each enabled syscall hook runs on every syscall of every process.
 */
enum {
	NR_read = 0, NR_write = 1, NR_close = 3, NR_readv = 19, NR_writev = 20,
	NR_connect = 42, NR_accept = 43, NR_sendto = 44, NR_recvfrom = 45,
	NR_sendmsg = 46, NR_recvmsg = 47, NR_accept4 = 288,
};

#define BIT(n) (1ull << (n))
#define EXIT_NRS (BIT(NR_read) | BIT(NR_write) | BIT(NR_close) | BIT(NR_readv) | \
		  BIT(NR_writev) | BIT(NR_connect) | BIT(NR_accept) | BIT(NR_sendto) | \
		  BIT(NR_recvfrom) | BIT(NR_sendmsg) | BIT(NR_recvmsg))

/* Every syscall of every process comes here: say no in as few instructions as possible. */
static __always_inline int on_sys_exit(struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	int dir = DBLAT_DIR_RECV, shape = BUF_FLAT;

	if (nr == NR_accept4)
		return accept_exit(ret);
	if ((__u64)nr > 63 || !(BIT(nr) & EXIT_NRS))
		return 0;
	switch (nr) {
	case NR_read:
		break;
	case NR_recvfrom:
		if (regs->r10 & MSG_PEEK)
			return 0;
		break;
	case NR_readv:
		shape = BUF_IOVEC;
		break;
	case NR_recvmsg:
		if (regs->dx & MSG_PEEK)
			return 0;
		shape = BUF_MSGHDR;
		break;
	case NR_write:
	case NR_sendto:
		dir = DBLAT_DIR_SEND;
		break;
	case NR_writev:
		dir = DBLAT_DIR_SEND;
		shape = BUF_IOVEC;
		break;
	case NR_sendmsg:
		dir = DBLAT_DIR_SEND;
		shape = BUF_MSGHDR;
		break;
	case NR_close:
		return ret ? 0 : on_close(regs->di);
	case NR_connect:
		return connect_exit(regs, ret);
	case NR_accept:
		return accept_exit(ret);
	default:
		return 0;
	}
	return data_exit(regs, dir, shape, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(dbl_sys_exit, struct pt_regs *regs, long ret)
{
	return self_timed_run(on_sys_exit(regs, ret), false);
}

#define SEND_NRS (BIT(NR_write) | BIT(NR_writev) | BIT(NR_sendto) | BIT(NR_sendmsg))

/*
 * Where the kernel has no data-ready tracepoint (older kernels), attached
 * instead of it once a PostgreSQL connection over a Unix socket is seen:
 * an entry hook runs on every syscall of every process.
 */
static __always_inline int on_send_enter(struct pt_regs *regs, long nr)
{
	__u64 id, key;
	struct dblat_conn *c;

	if ((__u64)nr > 63 || !(BIT(nr) & SEND_NRS))
		return 0;
	id = bpf_get_current_pid_tgid();
	if (filter_targets && !is_target(id >> 32))
		return 0;
	key = (id & ~0xffffffffull) | (__u32)regs->di;
	c = bpf_map_lookup_elem(&conns, &key);
	if (c && c->state == DBLAT_CONN_PG && !c->tcp) {
		c->send_ts = bpf_ktime_get_ns();
		c->send_tid = (__u32)id;
	}
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(dbl_send_enter, struct pt_regs *regs, long nr)
{
	return self_timed_run(on_send_enter(regs, nr), false);
}

/*
 * A Unix stream send queues its bytes on the peer and wakes it from inside
 * the sender's syscall, before it returns: often the woken backend runs
 * first, and a stamp at the return is late by its work. The peer's
 * data-ready call is the first moment after the copy: it stamps the send
 * (for a send of many buffers, its last one). Only socket sends reach it,
 * where an entry hook would run on every syscall of every process.
 *
 * Under a budget this hook may stay attached between windows, leaving at
 * its first test: attaching it stalls the load (user/tracer.c).
 */
static __always_inline int on_unix_queued(struct sock *sk)
{
	__u32 zero = 0;
	struct unix_queued *q;
	__u64 id;

	/* Between windows only a call still finishing would use the stamp: it takes its return's. */
	if (sampling && !*(volatile __u32 *)&sample_on)
		return 0;
	/* A BTF argument: read directly, without a helper call on every socket's wakeup. */
	if (sk->__sk_common.skc_family != 1 /* AF_UNIX */)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (filter_targets && !is_target(id >> 32))
		return 0;
	q = bpf_map_lookup_elem(&unix_queued, &zero);
	if (q) {
		q->ts = bpf_ktime_get_ns();
		q->peer = (__u64)sk;
		q->tid = (__u32)id;
	}
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(dbl_unix_queued, struct sock *sk)
{
	return self_timed_run(on_unix_queued(sk), true);
}

/*
 * Runs on every context switch on the host, and returns at once until some
 * client process hands a connection from one thread to another (a shared
 * pool). Preemption counts as well as sleep: a thread woken when a
 * connection is handed back can wait for a CPU before its wait is over
 * (measured: sleep alone put the p99 7% under the client's own, sleep and
 * preemption within 5%).
 */
static __always_inline int on_sched_switch(struct task_struct *prev, struct task_struct *next)
{
	__u32 tgid, tid;
	struct offcpu *o;
	__u64 now = 0;

	if (!offcpu_on)
		return 0;
	tgid = prev->tgid;
	if (bpf_map_lookup_elem(&offcpu_procs, &tgid)) {
		tid = prev->pid;
		o = bpf_map_lookup_elem(&offcpu_threads, &tid);
		if (!o) {
			struct offcpu z = {};

			bpf_map_update_elem(&offcpu_threads, &tid, &z, BPF_NOEXIST);
			o = bpf_map_lookup_elem(&offcpu_threads, &tid);
		}
		now = bpf_ktime_get_ns();
		if (o)
			o->since = now;
	}
	tid = next->pid;
	o = bpf_map_lookup_elem(&offcpu_threads, &tid);
	if (o && o->since) {
		if (!now)
			now = bpf_ktime_get_ns();
		o->total_ns += now - o->since;
		o->since = 0;
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(dbl_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return self_timed_run(on_sched_switch(prev, next), false);
}

/*
 * The end of a TCP handshake, on either side: runs in softirq context, so
 * the current task means nothing; user space matches it by ports.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int dbl_tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u32 zero = 0;
	struct scratch *sc;
	struct dblat_conn_info *ci;
	int o = ctx->oldstate, n = ctx->newstate;

	if (ctx->protocol != 6 /* IPPROTO_TCP */)
		return 0;
	if (o == DBLAT_TCP_CLOSE && n == DBLAT_TCP_SYN_SENT) {
		/* connect() sends the SYN itself: the current thread is the connecting one. */
		__u64 id = bpf_get_current_pid_tgid();
		__u32 tid = (__u32)id;
		struct connect_start cs = { .ts = bpf_ktime_get_ns(), .sk = (__u64)ctx->skaddr };

		if (is_target(id >> 32))
			bpf_map_update_elem(&connecting, &tid, &cs, BPF_ANY);
		return 0;
	}
	if (!(o == DBLAT_TCP_SYN_SENT && (n == DBLAT_TCP_ESTABLISHED || n == DBLAT_TCP_CLOSE)) &&
	    !(o == DBLAT_TCP_SYN_RECV && n == DBLAT_TCP_ESTABLISHED))
		return 0;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.kind = DBLAT_EV_TCP_STATE;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.fd = o;
	sc->ev.ret = n;
	ci = (void *)sc->data;
	__builtin_memset(ci, 0, sizeof(*ci));
	ci->family = ctx->family;
	ci->lport = ctx->sport;
	ci->rport = ctx->dport;
	if (ctx->family == 2) {
		bpf_probe_read_kernel(ci->laddr, 4, ctx->saddr);
		bpf_probe_read_kernel(ci->raddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(ci->laddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(ci->raddr, 16, ctx->daddr_v6);
	}
	emit(sc, sizeof(sc->ev) + sizeof(*ci));
	return 0;
}
