/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What every dblat BPF object has in common: the ring buffers, the counters
 * and the target maps. The wire object owns them; the stage and TLS objects
 * declare the same maps and user space points them at the wire object's
 * (bpf_map__reuse_fd), so events are counted once.
 */
#ifndef DBLAT_SHARED_BPF_H
#define DBLAT_SHARED_BPF_H

const volatile bool filter_targets = false;	/* trace only tgids in `targets` */
const volatile __u32 self_tgid = 0;
const volatile __u64 wakeup_bytes = 1 << 20;	/* wake the consumer past this backlog */

struct event_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
};

/*
 * A ring per CPU, created and sized by user space, which merges them by
 * time (user/ring_merge.c): one ring shared by all CPUs has its lock and
 * positions bounce between them on every event.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);		/* set to the number of possible CPUs */
	__type(key, __u32);
	__array(values, struct event_ring);
} events SEC(".maps");

static __always_inline void *cpu_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&events, &cpu);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DBLAT_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* tgid -> enum dblat_target; filled by user space (-p) and on fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/*
 * A direct-mapped cache of target verdicts in front of `targets`: an array
 * lookup is a few inlined instructions, a hash lookup a helper call, and
 * every syscall of every process asks. Slot: tgid << 8 | verdict | SLOT_SET.
 */
#define TARGET_CACHE_SLOTS 8192
#define SLOT_SET 0x80

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TARGET_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} target_cache SEC(".maps");

/* Forget a tgid's cached verdict: it forked, exec'd or exited. */
static __always_inline void target_forget(__u32 tgid)
{
	__u32 slot = tgid & (TARGET_CACHE_SLOTS - 1);
	__u64 *e = bpf_map_lookup_elem(&target_cache, &slot);

	if (e)
		*e = 0;
}

struct comm_key {
	char comm[DBLAT_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct comm_key);
	__type(value, __u8);
} target_comms SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* Events go out without wake-ups (user space polls on a timer) unless a backlog builds. */
static __always_inline __u64 rb_flags(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void emit(void *data, __u64 size)
{
	__u32 idx = DBLAT_STAT_EVENTS;
	__u64 *n = bpf_map_lookup_elem(&stats, &idx);
	void *ring = cpu_ring();
	__u64 flags;

	if (!ring) {
		stat_inc(DBLAT_STAT_DROPS);
		return;
	}
	/* Reading the ring's positions pulls a cache line the consumer writes: not every time. */
	flags = n && !(*n & 63) ? rb_flags(ring) : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(ring, data, size, flags))
		stat_inc(DBLAT_STAT_DROPS);
	else if (n)
		*n += 1;
}

static __always_inline bool is_target(__u32 tgid)
{
	__u32 slot = tgid & (TARGET_CACHE_SLOTS - 1);
	__u64 *e, want = (__u64)tgid << 8;
	__u8 *t, v;
	struct comm_key ck = {};

	if (tgid == self_tgid)
		return false;
	if (!filter_targets)
		return true;
	e = bpf_map_lookup_elem(&target_cache, &slot);
	if (e && (*e & ~0xffull) == want && (*e & SLOT_SET))
		return (*e & 0x7f) != DBLAT_TARGET_NO;
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (t) {
		v = *t;
	} else {
		/* First sight of this tgid: decide by comm once, remember the answer. */
		bpf_get_current_comm(ck.comm, sizeof(ck.comm));
		v = bpf_map_lookup_elem(&target_comms, &ck) ? DBLAT_TARGET_COMM : DBLAT_TARGET_NO;
		bpf_map_update_elem(&targets, &tgid, &v, BPF_NOEXIST);
	}
	if (e)
		*e = want | SLOT_SET | (v & 0x7f);
	return v != DBLAT_TARGET_NO;
}

#endif
