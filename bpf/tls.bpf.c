// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Plaintext of encrypted PostgreSQL connections, from OpenSSL's libssl.
 *
 * Uprobes on SSL_write, SSL_write_ex, SSL_read and SSL_read_ex (attached
 * by library with pid -1, see user/tls_probes.c) stash the call's buffer at
 * entry; its return probe copies the bytes the call moved into the wire
 * object's ring buffer as DBLAT_EV_TLS_DATA records. The SSL object does
 * not say which socket it uses in a form BPF can read portably (and
 * asyncio's has no socket at all: it runs TLS over memory BIOs), so the
 * connection is left to user space, which sees these records in order with
 * the thread's ciphertext syscalls on its encrypted connections.
 *
 * Only processes with an encrypted PostgreSQL connection (tls_procs, kept by
 * the wire programs) are copied from, and in them only SSL objects whose
 * first call carried the start of a PostgreSQL message (the startup packet,
 * for a connection dblat saw begin): an HTTPS client in the same process
 * never has its bytes leave the kernel. Every call still pays two traps
 * (entry and return) in every process that uses the library: the probes
 * cost wherever libssl is busy, which is why --no-tls-probes exists.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "dblat.h"
#include "wire.bpf.h"
#include "shared.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";


/* Shared with the wire object like the maps of shared.bpf.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} tls_procs SEC(".maps");

/* SSL objects that carry PostgreSQL: every call of theirs is copied. */
struct ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u8);
} pg_ssls SEC(".maps");

/* The call in progress on a thread: no stale entry outlives the thread. */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 nout;		/* _ex: where the byte count goes */
	__u64 ts;
	__u32 num;
	__u8 dir;		/* enum dblat_dir */
	__u8 ex;
	__u8 active;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ssl_call);
} tls_calls SEC(".maps");

struct ssl_rec {
	struct dblat_event ev;
	struct dblat_tls_data td;
	__u8 data[DBLAT_TLS_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ssl_rec);
} tls_scratch SEC(".maps");

#define MAX_CHUNKS 64	/* 1 MiB of one call; the rest is reported missing */
#define MAX_CALL (1u << 30)

static __always_inline int enter(void *ssl, const void *buf, __u64 num, void *nout, __u8 dir, __u8 ex)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ssl_call *c;

	if (!bpf_map_lookup_elem(&tls_procs, &tgid))
		return 0;
	c = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), NULL,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c)
		return 0;
	c->ssl = (__u64)ssl;
	c->buf = (__u64)buf;
	c->nout = (__u64)nout;
	c->num = num > MAX_CALL ? MAX_CALL : num;
	c->dir = dir;
	c->ex = ex;
	c->active = 1;
	c->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(dbl_ssl_write, void *ssl, const void *buf, int num)
{
	return num > 0 ? enter(ssl, buf, num, NULL, DBLAT_DIR_SEND, 0) : 0;
}

SEC("uprobe")
int BPF_KPROBE(dbl_ssl_write_ex, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return num ? enter(ssl, buf, num, written, DBLAT_DIR_SEND, 1) : 0;
}

SEC("uprobe")
int BPF_KPROBE(dbl_ssl_read, void *ssl, void *buf, int num)
{
	return num > 0 ? enter(ssl, buf, num, NULL, DBLAT_DIR_RECV, 0) : 0;
}

SEC("uprobe")
int BPF_KPROBE(dbl_ssl_read_ex, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return num ? enter(ssl, buf, num, readbytes, DBLAT_DIR_RECV, 1) : 0;
}

static __always_inline bool pg_type(__u8 t)
{
	switch (t) {
	case '1': case '2': case '3': case 'A': case 'B': case 'C': case 'D': case 'E':
	case 'F': case 'G': case 'H': case 'I': case 'K': case 'N': case 'P': case 'Q':
	case 'R': case 'S': case 'T': case 'V': case 'W': case 'X': case 'Z': case 'c':
	case 'd': case 'f': case 'n': case 'p': case 's': case 't': case 'v':
		return true;
	}
	return false;
}

static __always_inline __u32 be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* Could the n (<= 8) bytes at b start a PostgreSQL message, either way? */
static __always_inline bool pg_start(const __u8 *b, __u32 n)
{
	__u32 len, code;

	if (n >= 8 && b[0] == 0) {
		len = be32(b);
		code = be32(b + 4);
		return len >= 8 && len <= 10000 &&
		       (code == DBLAT_STARTUP_V3 || code == DBLAT_CANCEL_REQUEST ||
			code == DBLAT_SSL_REQUEST || code == DBLAT_GSSENC_REQUEST);
	}
	if (n < 5)
		return false;
	len = be32(b + 1);
	return pg_type(b[0]) && len >= 4 && len <= MAX_CALL;
}

struct ssl_chunks {
	struct ssl_call call;
	__u64 ret_ns;
	__u64 id;
	__u32 total;
	__u32 off;
	bool lost;
};

static __always_inline struct ssl_rec *rec_init(struct ssl_chunks *x)
{
	__u32 zero = 0;
	struct ssl_rec *r = bpf_map_lookup_elem(&tls_scratch, &zero);

	if (!r)
		return NULL;
	__builtin_memset(&r->ev, 0, sizeof(r->ev));
	r->ev.kind = DBLAT_EV_TLS_DATA;
	r->ev.ts_ns = x->ret_ns;
	r->ev.tgid = x->id >> 32;
	r->ev.tid = (__u32)x->id;
	r->ev.fd = -1;
	r->ev.dir = x->call.dir;
	r->ev.total_len = x->total;
	r->ev.flags = DBLAT_F_PLAINTEXT;
	r->td.ssl = x->call.ssl;
	r->td.call_ns = x->call.ts;
	r->td.off = x->off;
	r->td.pad = 0;
	return r;
}

static long chunk(__u32 i, void *arg)
{
	struct ssl_chunks *x = arg;
	struct ssl_rec *r;
	__u32 n;
	__u64 size;

	if (x->off >= x->total)
		return 1;
	r = rec_init(x);
	if (!r)
		return 1;
	n = x->total - x->off;
	if (n > DBLAT_TLS_CHUNK)
		n = DBLAT_TLS_CHUNK;
	barrier_var(n);
	n &= 2 * DBLAT_TLS_CHUNK - 1;
	if (n > DBLAT_TLS_CHUNK)
		n = DBLAT_TLS_CHUNK;
	if (bpf_probe_read_user(r->data, n, (void *)(x->call.buf + x->off))) {
		x->lost = true;
		return 1;
	}
	r->ev.cap_len = n;
	size = sizeof(r->ev) + sizeof(r->td) + dblat_data_pad(n);
	barrier_var(size);
	if (size > sizeof(*r))
		size = sizeof(*r);
	emit(r, size);
	x->off += n;
	return x->off >= x->total;
}

/* One return program for the four functions: the entry said which it was. */
SEC("uretprobe")
int BPF_KRETPROBE(dbl_ssl_ret, long ret)
{
	struct ssl_call *c = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), NULL, 0);
	struct ssl_chunks x = {};
	__u64 n = 0;

	if (!c || !c->active)
		return 0;
	c->active = 0;
	x.call = *c;
	if (x.call.ex) {
		if ((int)ret == 1 && x.call.nout)
			bpf_probe_read_user(&n, sizeof(n), (void *)x.call.nout);
	} else if ((int)ret > 0) {
		n = (int)ret;
	}
	if (!n)
		return 0;
	if (n > x.call.num)
		n = x.call.num;
	{
		struct ssl_key key = { .ssl = x.call.ssl, .tgid = bpf_get_current_pid_tgid() >> 32 };
		__u8 h[8] = {}, one = 1;

		if (!bpf_map_lookup_elem(&pg_ssls, &key)) {
			/* A PostgreSQL connection's first plaintext starts a message. */
			if (n < 8 || bpf_probe_read_user(h, 8, (void *)x.call.buf) || !pg_start(h, 8))
				return 0;
			bpf_map_update_elem(&pg_ssls, &key, &one, BPF_ANY);
		}
	}
	x.total = n;
	x.ret_ns = bpf_ktime_get_ns();
	x.id = bpf_get_current_pid_tgid();
	bpf_loop(MAX_CHUNKS, chunk, &x, 0);
	if (x.off < x.total) {
		/* Unreadable or too long: say where the bytes stop. */
		struct ssl_rec *r = rec_init(&x);

		if (r) {
			r->ev.flags |= DBLAT_F_LOST;
			emit(r, sizeof(r->ev) + sizeof(r->td));
		}
	}
	return 0;
}
