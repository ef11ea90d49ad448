// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Server-side stages from PostgreSQL's USDT probes (--server-stages).
 *
 * Every probe hit is a trap into the kernel, so this object is opt-in and
 * only hooks probes that fire once per stage or on rare events. Stages are
 * timed per backend (task storage: no stale entry outlives its process) and
 * written to the ring buffer the wire programs use, so user space sees them
 * interleaved with the backend's traffic.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "dblat.h"
#include "shared.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What one backend has open. Backends are single-threaded: a task is a backend. */
struct backend {
	__u64 stage_start;	/* the outermost parse/plan/execute in progress */
	__u64 stage_sp;		/* its frame: the stack pointer at its start probe */
	__u32 stage_kind;	/* enum dblat_stage_kind, 0 when none */
	__u32 wal;		/* WAL records inserted since the last stage event */
	__u64 lock_start;
	__u32 lock_mode, lock_relid, lock_type;
	__u32 io_relid;
	__u64 io_start;
	__u64 lw_start;
	__u64 ckpt_start;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct backend);
} backends SEC(".maps");

struct stage_rec {
	struct dblat_event ev;
	struct dblat_stage st;
};

/* LockTagType values whose locktag_field2 is a relation OID. */
#define LOCKTAG_RELATION 0
#define LOCKTAG_RELATION_EXTEND 1
#define LOCKTAG_PAGE 3
#define LOCKTAG_TUPLE 4

static __always_inline struct backend *backend(void)
{
	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return NULL;
	return bpf_task_storage_get(&backends, bpf_get_current_task_btf(), NULL,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline struct stage_rec *stage_new(__u32 kind, __u64 start, __u64 end)
{
	void *ring = cpu_ring();
	struct stage_rec *r = ring ? bpf_ringbuf_reserve(ring, sizeof(*r), 0) : NULL;
	__u64 id = bpf_get_current_pid_tgid();

	if (!r) {
		stat_inc(DBLAT_STAT_DROPS);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->ev.kind = DBLAT_EV_STAGE;
	r->ev.ts_ns = end;
	r->ev.tgid = id >> 32;
	r->ev.tid = (__u32)id;
	bpf_get_current_comm(r->ev.comm, sizeof(r->ev.comm));
	r->st.kind = kind;
	r->st.start_ns = start;
	r->st.end_ns = end;
	return r;
}

static __always_inline void stage_send(struct stage_rec *r)
{
	void *ring = cpu_ring();
	__u64 flags = ring ? rb_flags(ring) : BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(r, flags);
	stat_inc(DBLAT_STAT_EVENTS);
}

static __always_inline void emit_top_stage(struct backend *b, __u64 now)
{
	struct stage_rec *r = stage_new(b->stage_kind, b->stage_start, now);

	b->stage_kind = 0;
	if (!r)
		return;
	r->st.count = b->wal;
	b->wal = 0;
	stage_send(r);
}

static __always_inline void emit_lock_wait(struct backend *b, __u64 now)
{
	struct stage_rec *r = stage_new(DBLAT_STAGE_LOCK_WAIT, b->lock_start, now);

	b->lock_start = 0;
	if (!r)
		return;
	r->st.lock_mode = b->lock_mode;
	r->st.relid = b->lock_relid;
	r->st.count = b->lock_type;
	stage_send(r);
}

/*
 * Parse, plan and execute nest: PL/pgSQL plans and runs its queries inside
 * the caller's execute, and an error caught by an EXCEPTION block unwinds
 * inner stages without their done probe. Only the outermost stage counts,
 * recognised by its frame: a probe with a lower stack pointer than the open
 * stage's runs inside it, and a start and its done share one frame.
 */
static __always_inline int top_start(struct pt_regs *ctx, __u32 kind)
{
	struct backend *b = backend();
	__u64 sp = PT_REGS_SP(ctx);

	if (!b || (b->stage_kind && sp < b->stage_sp))
		return 0;
	b->stage_kind = kind;
	b->stage_sp = sp;
	b->stage_start = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int top_done(struct pt_regs *ctx, __u32 kind)
{
	struct backend *b = backend();

	if (!b || b->stage_kind != kind || b->stage_sp != PT_REGS_SP(ctx))
		return 0;
	emit_top_stage(b, bpf_ktime_get_ns());
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_parse_start)
{
	return top_start(ctx, DBLAT_STAGE_PARSE);
}

SEC("usdt")
int BPF_USDT(dbl_parse_done)
{
	return top_done(ctx, DBLAT_STAGE_PARSE);
}

SEC("usdt")
int BPF_USDT(dbl_plan_start)
{
	return top_start(ctx, DBLAT_STAGE_PLAN);
}

SEC("usdt")
int BPF_USDT(dbl_plan_done)
{
	return top_done(ctx, DBLAT_STAGE_PLAN);
}

SEC("usdt")
int BPF_USDT(dbl_execute_start)
{
	return top_start(ctx, DBLAT_STAGE_EXECUTE);
}

SEC("usdt")
int BPF_USDT(dbl_execute_done)
{
	return top_done(ctx, DBLAT_STAGE_EXECUTE);
}

/*
 * An ERROR longjmps out of the stage and of any lock wait, so neither done
 * probe fires; the top-level abort that follows ends both (a deadlock
 * victim's wait, a lock_timeout, a statement that failed mid-execution).
 */
SEC("usdt")
int BPF_USDT(dbl_xact_abort)
{
	struct backend *b = backend();
	__u64 now;

	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	if (b->lock_start)
		emit_lock_wait(b, now);
	if (b->stage_kind)
		emit_top_stage(b, now);
	b->lw_start = 0;
	b->io_start = 0;
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_lock_wait_start, __u32 field1, __u32 field2, __u32 field3, __u32 field4,
	     __u32 type, int mode)
{
	struct backend *b = backend();

	if (!b)
		return 0;
	b->lock_start = bpf_ktime_get_ns();
	b->lock_mode = mode;
	b->lock_type = type & 0xff;
	b->lock_relid = 0;
	if (b->lock_type == LOCKTAG_RELATION || b->lock_type == LOCKTAG_RELATION_EXTEND ||
	    b->lock_type == LOCKTAG_PAGE || b->lock_type == LOCKTAG_TUPLE)
		b->lock_relid = field2;
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_lock_wait_done)
{
	struct backend *b = backend();

	if (b && b->lock_start)
		emit_lock_wait(b, bpf_ktime_get_ns());
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_deadlock)
{
	struct stage_rec *r;
	__u64 now;

	if (!backend())
		return 0;
	now = bpf_ktime_get_ns();
	r = stage_new(DBLAT_STAGE_DEADLOCK, now, now);
	if (r)
		stage_send(r);
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_lwlock_wait_start)
{
	struct backend *b = backend();

	if (b)
		b->lw_start = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_lwlock_wait_done, const char *tranche, int mode)
{
	struct backend *b = backend();
	struct stage_rec *r;

	if (!b || !b->lw_start)
		return 0;
	r = stage_new(DBLAT_STAGE_LWLOCK_WAIT, b->lw_start, bpf_ktime_get_ns());
	b->lw_start = 0;
	if (!r)
		return 0;
	r->st.lock_mode = mode;
	bpf_probe_read_user_str(r->st.name, sizeof(r->st.name), tranche);
	stage_send(r);
	return 0;
}

/*
 * buffer__read__start fires on every buffer access, hit or miss, and only
 * its done probe says which: two traps per access. The storage manager's
 * read probes fire only when the block was not in shared buffers.
 */
SEC("usdt")
int BPF_USDT(dbl_read_start, int fork, __u32 block, __u32 spc, __u32 db, __u32 rel)
{
	struct backend *b = backend();

	if (!b)
		return 0;
	b->io_start = bpf_ktime_get_ns();
	b->io_relid = rel;
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_read_done)
{
	struct backend *b = backend();
	struct stage_rec *r;

	if (!b || !b->io_start)
		return 0;
	r = stage_new(DBLAT_STAGE_BUFFER_READ, b->io_start, bpf_ktime_get_ns());
	b->io_start = 0;
	if (!r)
		return 0;
	r->st.relid = b->io_relid;
	r->st.count = 1;
	stage_send(r);
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_checkpoint_start)
{
	struct backend *b = backend();

	if (b)
		b->ckpt_start = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int BPF_USDT(dbl_checkpoint_done)
{
	struct backend *b = backend();
	struct stage_rec *r;

	if (!b || !b->ckpt_start)
		return 0;
	r = stage_new(DBLAT_STAGE_CHECKPOINT, b->ckpt_start, bpf_ktime_get_ns());
	b->ckpt_start = 0;
	if (r)
		stage_send(r);
	return 0;
}

/* Counted, not reported: the count rides on the backend's next parse, plan or execute event, or its exit. */
SEC("usdt")
int BPF_USDT(dbl_wal_insert)
{
	struct backend *b = backend();

	if (b)
		b->wal++;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(dbl_stages_exit, struct task_struct *p)
{
	struct backend *b = bpf_task_storage_get(&backends, p, NULL, 0);
	struct stage_rec *r;
	__u64 now;

	if (!b || !b->wal)
		return 0;
	now = bpf_ktime_get_ns();
	r = stage_new(DBLAT_STAGE_WAL_INSERT, now, now);
	if (!r)
		return 0;
	r->st.count = b->wal;
	b->wal = 0;
	stage_send(r);
	return 0;
}
