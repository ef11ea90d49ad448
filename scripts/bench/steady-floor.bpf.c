// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The least work a tracer can do per statement and still time it at both
 * ends: the hot path of a design with no syscall hooks and no events in the
 * steady state. On the socket tracepoints (only socket calls reach them),
 * for the named processes' plain read/write/send/recv calls:
 *   - the connection's state is found by socket cookie (never reused);
 *   - a frontend buffer (a client's send, a backend's read) stamps the
 *     start of a call when it begins with Query, Parse, Bind or Execute;
 *   - a backend buffer (a backend's send, a client's read) is copied (up
 *     to COPY bytes) and its message headers walked: DataRows counted,
 *     ErrorResponse noted, and a ReadyForQuery at its end closes the call;
 *   - closed calls go into per-CPU latency histograms, one per end.
 * What the full design must add (statement keys, several calls in flight,
 * buffers split across calls) costs more: this is a floor, not an estimate.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "steady-floor.h"

char LICENSE[] SEC("license") = "GPL";

#define COPY 128
#define HOPS 8
#define BUCKETS STEADY_BUCKETS
#define NR_read 0
#define NR_write 1
#define NR_sendto 44
#define NR_recvfrom 45

/* The first 8 bytes of the traced processes' names. */
const volatile __u64 server_comm = 0;	/* the backends: they read the frontend stream */
const volatile __u64 client_comm = 0;

struct call {
	__u64 start;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tally);
} tallies SEC(".maps");

struct scratch {
	__u8 b[2 * COPY];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline __u32 be32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r < BUCKETS ? r : BUCKETS - 1;
}

static __always_inline void close_call(struct call *cl, __u32 end, __u32 rows, bool error)
{
	__u64 now = bpf_ktime_get_ns(), ns;
	struct tally *t;

	if (!cl->start)
		return;
	ns = now - cl->start;
	cl->start = 0;
	t = bpf_map_lookup_elem(&tallies, &end);
	if (!t)
		return;
	t->calls++;
	t->errors += error;
	t->rows += rows;
	t->ns += ns;
	t->hist[log2_bucket(ns) & (BUCKETS - 1)]++;
}

static __always_inline int on_socket(struct sock *sk, int ret, bool send)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 comm = 0, cookie, buf;
	struct pt_regs *regs;
	struct scratch *sc;
	struct call *cl;
	bool server, fe;
	__u32 zero = 0, n, off = 0, k, rows = 0;
	bool error = false, done = false;
	long nr;

	if (ret <= 0)
		return 0;
	comm = *(__u64 *)task->comm;
	if (comm != server_comm && comm != client_comm)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = regs->orig_ax;
	if (nr != NR_read && nr != NR_write && nr != NR_sendto && nr != NR_recvfrom)
		return 0;
	buf = regs->si;
	server = comm == server_comm;
	fe = send != server;	/* a client sends the frontend stream, a backend reads it */

	cookie = bpf_get_socket_cookie(sk);
	cl = bpf_map_lookup_elem(&calls, &cookie);
	if (!cl) {
		struct call z = {};

		bpf_map_update_elem(&calls, &cookie, &z, BPF_NOEXIST);
		cl = bpf_map_lookup_elem(&calls, &cookie);
		if (!cl)
			return 0;
	}
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return 0;
	n = (__u32)ret < COPY ? (__u32)ret : COPY;
	barrier_var(n);
	if (bpf_probe_read_user(sc->b, n & (2 * COPY - 1), (void *)buf))
		return 0;
	if (fe) {
		__u8 t = sc->b[0];

		if (t == 'Q' || t == 'P' || t == 'B' || t == 'E')
			cl->start = bpf_ktime_get_ns();
		return 0;
	}
	for (k = 0; k < HOPS; k++) {
		__u8 t;
		__u32 len;

		if (off + 5 > n)
			break;
		t = sc->b[off & (COPY - 1)];
		len = be32(&sc->b[(off + 1) & (COPY - 1)]);
		if (len < 4)
			break;
		rows += t == 'D';
		error |= t == 'E';
		if (t == 'Z' && off + 1 + len == (__u32)ret) {
			done = true;
			break;
		}
		off += 1 + len;
	}
	if (done)
		close_call(cl, server, rows, error);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(steady_send, struct sock *sk, int ret, int flags)
{
	return on_socket(sk, ret, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(steady_recv, struct sock *sk, int ret, int flags)
{
	if (flags & 2)	/* MSG_PEEK */
		return 0;
	return on_socket(sk, ret, false);
}
