// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "mono_clock.h"
#include "tracer.h"
#include "pgserver.h"
#include "ring_merge.h"
#include "cpulist.h"
#include "stage_probes.h"
#include "tls_probes.h"
#include "wire.skel.h"

/* One ring, read on its own so that each round takes a bounded batch of it. */
struct ring_src {
	struct tracer *t;
	int idx;
	int fd;			/* the ring map */
	struct ring_buffer *rb;
	unsigned taken;		/* events taken this round */
	bool stopped;		/* the round's batch filled: more may be waiting */
	uint64_t last_ts;	/* the stamp of the last event taken */
	const volatile unsigned long *pos;	/* read-only: [0] consumer, [page] producer */
};

struct tracer {
	struct wire_bpf *skel;
	int epfd;			/* the rings' readiness, for the timed wait */
	int ncpus;			/* possible CPUs: slots of the events map */
	int nrings;			/* one per CPU online at start */
	uint32_t ring_bytes;		/* each ring */
	struct ring_src *srcs;
	struct ring_merge *merge;
	tracer_event_fn fn;
	void *fn_ctx;
	double backlog;			/* the fullest ring's share in use, at most, during the last poll */
	bool unread;			/* the last drain stopped with events still in the rings */
	uint64_t wait_cpu_ns;		/* this thread's CPU in epoll_wait so far (self_timed only) */
	long page;
	struct stage_probes *stages;
	struct tls_probes *tls;
	bool send_enter_failed;
	bool unix_queued_failed;
	bool keep_ready;		/* the data-ready hook stays when the others leave (tracer_keep_ready_hook) */
	bool sched_switch_failed;
	unsigned hooks_off;		/* between windows (--sample, a budget): data hooks detached, a bit each (see data_hook) */
};

static bool verbose_libbpf;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (level == LIBBPF_INFO && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* -p covers the process and its descendants, including those already running. */
static void add_descendants(int map_fd, const pid_t *pids, int npids)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	__u8 v = DBLAT_TARGET_PID;

	if (!d)
		return;
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name), p;
		int depth, i;

		if (pid <= 0)
			continue;
		for (p = pid, depth = 0; p > 1 && depth < 64; p = proc_ppid(p), depth++) {
			for (i = 0; i < npids; i++)
				if (p == pids[i])
					break;
			if (i < npids) {
				__u32 k = pid;

				bpf_map_update_elem(map_fd, &k, &v, BPF_ANY);
				break;
			}
		}
	}
	closedir(d);
}

/* libbpf finds tracepoint ids in tracefs; minimal hosts leave it unmounted. */
static int ensure_tracefs(void)
{
	struct stat st;

	if (!stat("/sys/kernel/tracing/events", &st) || !stat("/sys/kernel/debug/tracing/events", &st))
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY) {
		fprintf(stderr, "dblat: tracefs is not mounted and mounting it on /sys/kernel/tracing failed: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

bool tracer_targeted(struct bpf_object *wire, const struct tracer_opts *o, pid_t pid)
{
	struct bpf_map *targets = bpf_object__find_map_by_name(wire, "targets");
	struct bpf_map *comms = bpf_object__find_map_by_name(wire, "target_comms");
	char path[64], key[DBLAT_COMM_LEN] = {};
	__u32 k = pid;
	__u8 v;
	FILE *f;

	if (!o->npids && !o->ncomms)
		return true;
	if (targets && !bpf_map_lookup_elem(bpf_map__fd(targets), &k, &v) && v != DBLAT_TARGET_NO)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(key, sizeof(key), f))
		key[strcspn(key, "\n")] = 0;
	fclose(f);
	return comms && !bpf_map_lookup_elem(bpf_map__fd(comms), key, &v);
}

/* Backends joined mid-session can still name their prepared statements. */
static void resolve_servers(struct tracer *t, const struct tracer_opts *o)
{
	pid_t pms[64];
	int n = pgserver_postmasters(pms, 64), i;

	for (i = 0; i < n; i++) {
		struct dblat_be_entry be;
		char why[256];
		__u32 k = pms[i];

		if (!tracer_targeted(t->skel->obj, o, pms[i]))
			continue;
		if (pgserver_resolve(pms[i], &be, why, sizeof(why))) {
			if (o->verbose)
				fprintf(stderr, "dblat: statement text of prepared statements unavailable: %s\n", why);
			continue;
		}
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.be_entries), &k, &be, BPF_ANY);
	}
}

/* The kernel has this tracepoint (tracefs is mounted by then: ensure_tracefs). */
static bool kernel_has_tracepoint(const char *category, const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/%s", category, name);
	if (!stat(path, &st))
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/%s", category, name);
	return !stat(path, &st);
}

/* Attach a program held back at load; a failure is said once (why: what the user loses). */
static bool attach_later(struct bpf_program *prog, struct bpf_link **link, bool *failed, const char *why)
{
	if (*link)
		return true;
	if (*failed)
		return false;
	*link = bpf_program__attach(prog);
	if (!*link) {
		*failed = true;
		fprintf(stderr, "dblat: %s (%s)\n", why, strerror(errno));
		return false;
	}
	return true;
}

#define RING_MB_DEFAULT 16
/* An event stamped this long before a drain began was written by the time it did. */
#define MERGE_MARGIN_NS 1000000ull

/* The total is split across the CPUs: a power of two each, at least 1 MiB. */
static uint32_t ring_bytes_per_cpu(uint32_t total_mb, int ncpus)
{
	uint64_t per = ((uint64_t)(total_mb ? total_mb : RING_MB_DEFAULT) << 20) / (ncpus > 0 ? ncpus : 1);
	uint32_t r = 1u << 20;

	while ((uint64_t)r * 2 <= per && r < (1u << 30))
		r *= 2;
	return r;
}

/* Events taken from one ring per round: what the merge holds stays bounded. */
#define RING_BATCH 4096

static int on_ring_event(void *ctx, void *data, size_t size)
{
	struct ring_src *src = ctx;
	struct tracer *t = src->t;

	if (size >= sizeof(struct dblat_event))
		src->last_ts = ((const struct dblat_event *)data)->ts_ns;
	/* Out of memory to hold it: hand it on now, out of order, rather than lose it. */
	if (ring_merge_push(t->merge, src->idx, data, size))
		t->fn(t->fn_ctx, data, size);
	/* A negative return stops this ring's read after this event (which is taken). */
	if (++src->taken >= RING_BATCH) {
		src->stopped = true;
		return -1;
	}
	return 0;
}

/*
 * Which possible CPUs are online: a VM may count many more possible CPUs
 * than it runs, and each ring's memory is allocated when it is created.
 * Unreadable: all of them.
 */
static bool *online_cpus(int ncpus, int *nonline)
{
	bool *set = calloc(ncpus, sizeof(*set));
	char buf[4096] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	int n = -1;

	if (!set) {
		if (f)
			fclose(f);
		return NULL;
	}
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			n = cpulist_parse(buf, set, ncpus);
		fclose(f);
	}
	if (n <= 0) {
		for (n = 0; n < ncpus; n++)
			set[n] = true;
	}
	*nonline = n;
	return set;
}

/*
 * A ring per CPU online, in that CPU's slot of the events map; a CPU that
 * comes online later writes into another CPU's ring (in order, shared).
 */
static int open_rings(struct tracer *t, const bool *online)
{
	int outer = bpf_map__fd(t->skel->maps.events), i, r = 0;

	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -errno;
	t->srcs = calloc(t->nrings, sizeof(*t->srcs));
	t->merge = ring_merge_new(t->nrings);
	if (!t->srcs || !t->merge)
		return -ENOMEM;
	for (i = 0; i < t->nrings; i++)
		t->srcs[i].fd = -1;
	for (i = 0; i < t->ncpus && r < t->nrings; i++) {
		struct ring_src *src = &t->srcs[r];
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = r };
		__u32 k = i;

		if (!online[i])
			continue;
		src->t = t;
		src->idx = r;
		src->fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "dblat_ring", 0, 0, t->ring_bytes, NULL);
		if (src->fd < 0)
			return -errno;
		if (bpf_map_update_elem(outer, &k, &src->fd, BPF_ANY))
			return -errno;
		src->rb = ring_buffer__new(src->fd, on_ring_event, src, NULL);
		if (!src->rb)
			return -errno;
		/* The ring's positions, mapped again read-only: how far behind the reader is. */
		src->pos = mmap(NULL, 2 * t->page, PROT_READ, MAP_SHARED, src->fd, 0);
		if (src->pos == MAP_FAILED) {
			src->pos = NULL;
			return -errno;
		}
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, src->fd, &ee))
			return -errno;
		r++;
	}
	if (!r)
		return -ENODEV;
	for (i = 0, r = 0; i < t->ncpus; i++) {
		__u32 k = i;

		if (online[i])
			continue;
		if (bpf_map_update_elem(outer, &k, &t->srcs[r].fd, BPF_ANY))
			return -errno;
		r = (r + 1) % t->nrings;
	}
	return 0;
}

struct tracer *tracer_open(const struct tracer_opts *o, tracer_event_fn fn, void *ctx)
{
	struct tracer *t = calloc(1, sizeof(*t));
	bool *online = NULL;
	int err, i;

	if (!t)
		return NULL;
	t->epfd = -1;
	verbose_libbpf = o->verbose;
	libbpf_set_print(print_libbpf);
	t->ncpus = libbpf_num_possible_cpus();
	if (ensure_tracefs())
		goto fail;

	t->skel = wire_bpf__open();
	if (!t->skel) {
		fprintf(stderr, "dblat: cannot open the BPF object: %s\n", strerror(errno));
		goto fail;
	}
	t->skel->rodata->filter_targets = o->npids > 0 || o->ncomms > 0;
	t->skel->rodata->self_tgid = getpid();
	if (o->cap_fe)
		t->skel->rodata->cap_fe = o->cap_fe;
	if (o->cap_be)
		t->skel->rodata->cap_be = o->cap_be;
	t->skel->rodata->sampling = o->sampling;
	t->skel->rodata->self_timed = o->self_timed;
	t->skel->bss->windows_on = o->windows_at_start;
	/* Under a budget every call is traced until it says otherwise. */
	t->skel->bss->sample_on = !o->windows_at_start;
	t->fn = fn;
	t->fn_ctx = ctx;
	online = online_cpus(t->ncpus, &t->nrings);
	if (!online)
		goto fail;
	t->page = sysconf(_SC_PAGESIZE);
	t->ring_bytes = ring_bytes_per_cpu(o->ringbuf_mb, t->nrings);
	bpf_map__set_max_entries(t->skel->maps.events, t->ncpus);
	/* The rings are created after load, in this size; the template's does not matter. */
	t->skel->rodata->wakeup_bytes = t->ring_bytes / 4;

	bpf_program__set_autoattach(t->skel->progs.dbl_send_enter, false);
	bpf_program__set_autoattach(t->skel->progs.dbl_unix_queued, false);
	if (!kernel_has_tracepoint("sock", "sk_data_ready")) {
		bpf_program__set_autoload(t->skel->progs.dbl_unix_queued, false);
		t->unix_queued_failed = true;
	}
	bpf_program__set_autoattach(t->skel->progs.dbl_sched_switch, false);
	err = wire_bpf__load(t->skel);
	if (err) {
		fprintf(stderr, "dblat: cannot load BPF programs (%s); run with -v for the verifier log\n",
			strerror(-err));
		goto fail;
	}
	for (i = 0; i < o->npids; i++) {
		__u32 k = o->pids[i];
		__u8 v = DBLAT_TARGET_PID;

		bpf_map_update_elem(bpf_map__fd(t->skel->maps.targets), &k, &v, BPF_ANY);
	}
	if (o->npids)
		add_descendants(bpf_map__fd(t->skel->maps.targets), o->pids, o->npids);
	for (i = 0; i < o->ncomms; i++) {
		char key[DBLAT_COMM_LEN] = {};
		__u8 v = 1;

		strncpy(key, o->comms[i], sizeof(key) - 1);
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.target_comms), key, &v, BPF_ANY);
	}

	resolve_servers(t, o);

	/* The rings before the programs: an event with no ring to go to counts as dropped. */
	err = open_rings(t, online);
	free(online);
	online = NULL;
	if (err) {
		fprintf(stderr, "dblat: cannot open the ring buffers: %s\n", strerror(-err));
		goto fail;
	}
	err = wire_bpf__attach(t->skel);
	if (err) {
		fprintf(stderr, "dblat: cannot attach to the syscall tracepoints: %s\n", strerror(-err));
		goto fail;
	}
	/* Returns at once until BPF sees a client hand a connection to another thread. */
	attach_later(t->skel->progs.dbl_sched_switch, &t->skel->links.dbl_sched_switch, &t->sched_switch_failed,
		     "cannot hook context switches: a thread's wait for a pooled connection is its whole "
		     "gap between statements");
	if (o->server_stages)
		t->stages = stage_probes_attach(t->skel->obj, o, t->skel->rodata->wakeup_bytes);
	if (!o->no_tls_probes)
		t->tls = tls_probes_attach(t->skel->obj, o, t->skel->rodata->wakeup_bytes);
	return t;
fail:
	free(online);
	tracer_close(t);
	return NULL;
}

/* The share of the fullest ring holding events not yet read. */
static double ring_backlog(const struct tracer *t)
{
	unsigned long words = t->page / sizeof(unsigned long), used, most = 0;
	int i;

	for (i = 0; i < t->nrings; i++) {
		const volatile unsigned long *pos = t->srcs[i].pos;

		if (!pos)
			continue;
		used = __atomic_load_n(&pos[words], __ATOMIC_ACQUIRE) - __atomic_load_n(&pos[0], __ATOMIC_ACQUIRE);
		if (used > most)
			most = used;
	}
	return (double)most / t->ring_bytes;
}

/* A poll's drain hands back after this long, so that -d and -i keep time under a flood. */
#define DRAIN_BUDGET_NS (100 * 1000000ull)

/*
 * Reads every ring in rounds of at most RING_BATCH events each and hands
 * on what is in order. A ring that filled its batch may hold older events
 * than the others' newest: the horizon stops short of what it gave last.
 * final: tracing is over; the programs may still be writing, so it reads
 * up to the events stamped when it began (a load writing faster than
 * dblat reads would otherwise keep it here for ever).
 */
static long drain(struct tracer *t, bool final, uint64_t until)
{
	uint64_t begin = mono_ns();
	long n = 0;

	if (begin + DRAIN_BUDGET_NS < until)
		until = begin + DRAIN_BUDGET_NS;

	for (;;) {
		uint64_t t0 = mono_ns();
		double backlog = ring_backlog(t);
		uint64_t horizon = final ? UINT64_MAX : t0 > MERGE_MARGIN_NS ? t0 - MERGE_MARGIN_NS : 0;
		bool more = false;
		int i;

		if (backlog > t->backlog)
			t->backlog = backlog;
		for (i = 0; i < t->nrings; i++) {
			struct ring_src *src = &t->srcs[i];

			src->taken = 0;
			src->stopped = false;
			ring_buffer__consume(src->rb);
			if (src->stopped) {
				uint64_t h = src->last_ts > MERGE_MARGIN_NS ? src->last_ts - MERGE_MARGIN_NS : 0;

				if (!final || src->last_ts < begin)
					more = true;
				if (h < horizon)
					horizon = h;
			}
		}
		/* The last round of the final drain hands on all that is held. */
		if (final && !more)
			horizon = UINT64_MAX;
		n += ring_merge_flush(t->merge, horizon, t->fn, t->fn_ctx);
		t->unread = more;
		if (!more || (!final && mono_ns() >= until))
			return n;
	}
}

int tracer_poll(struct tracer *t, int timeout_ms)
{
	struct epoll_event ev[8];
	uint64_t due = mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull, cpu;
	int n;

	/*
	 * Events are written without wake-ups (but for a backlog); the timeout
	 * is the batching. The caller wants control back when it is over (a
	 * window closes then), so the drain stops there too, and what it left
	 * is read without waiting at the next poll. A window at a host's limit
	 * overran its 200 ms by 30 ms while the drain went on.
	 */
	cpu = t->skel->rodata->self_timed ? thread_cpu_ns() : 0;
	n = epoll_wait(t->epfd, ev, 8, t->unread ? 0 : timeout_ms);
	if (t->skel->rodata->self_timed)
		t->wait_cpu_ns += thread_cpu_ns() - cpu;
	if (n < 0 && errno != EINTR)
		return -errno;
	t->backlog = 0;
	return (int)drain(t, false, due > mono_ns() ? due : mono_ns());
}

double tracer_backlog(const struct tracer *t)
{
	return t->backlog;
}

uint64_t tracer_wait_cpu_ns(const struct tracer *t)
{
	return t->wait_cpu_ns;
}

int tracer_drain(struct tracer *t)
{
	return (int)drain(t, true, UINT64_MAX);
}

void tracer_stats(struct tracer *t, uint64_t out[DBLAT_STAT_NR])
{
	int fd = bpf_map__fd(t->skel->maps.stats);
	__u64 *vals = calloc(t->ncpus, sizeof(__u64));
	__u32 k;
	int c;

	memset(out, 0, DBLAT_STAT_NR * sizeof(out[0]));
	if (!vals)
		return;
	for (k = 0; k < DBLAT_STAT_NR; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (c = 0; c < t->ncpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void tracer_ignore_conn(struct tracer *t, uint32_t tgid, int32_t fd)
{
	__u64 key = ((__u64)tgid << 32) | (__u32)fd;
	__u8 one = 1;

	bpf_map_update_elem(bpf_map__fd(t->skel->maps.ignored), &key, &one, BPF_ANY);
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.conns), &key);
}

uint64_t tracer_map_bytes(struct tracer *t)
{
	struct bpf_map *m;
	uint64_t total = 0;

	bpf_object__for_each_map(m, t->skel->obj) {
		uint64_t v = bpf_map__value_size(m), k = bpf_map__key_size(m);
		uint64_t n = bpf_map__max_entries(m);

		if (m == t->skel->maps.events)
			total += (uint64_t)t->ring_bytes * t->nrings;
		else if (bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF)
			total += n;
		else if (bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY)
			total += v * n * t->ncpus;
		else
			total += (k + v) * n;
	}
	return total;
}

void tracer_sample_window(struct tracer *t, bool on)
{
	__atomic_store_n(&t->skel->bss->sample_on, on ? 1 : 0, __ATOMIC_RELEASE);
}

int tracer_self_cost(struct tracer *t, struct dblat_self_cost *sum)
{
	struct dblat_self_cost *per_cpu;
	__u32 zero = 0;
	int i, err = 0;

	memset(sum, 0, sizeof(*sum));
	if (t->ncpus <= 0)
		return -EINVAL;
	per_cpu = calloc(t->ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.self_cost), &zero, per_cpu))
		err = -errno;
	for (i = 0; !err && i < t->ncpus; i++) {
		sum->runs += per_cpu[i].runs;
		sum->ready_runs += per_cpu[i].ready_runs;
		sum->timed += per_cpu[i].timed;
		sum->timed_ns += per_cpu[i].timed_ns;
	}
	free(per_cpu);
	return err;
}

/* The hooks every data syscall (or send, or context switch) pays for. */
enum { DATA_HOOK_SYS_EXIT, DATA_HOOK_UNIX_QUEUED, DATA_HOOK_SEND_ENTER, DATA_HOOK_SCHED_SWITCH };

static struct bpf_link **data_hook(struct tracer *t, int i, struct bpf_program **prog)
{
	struct wire_bpf *s = t->skel;

	switch (i) {
	case DATA_HOOK_SYS_EXIT:
		*prog = s->progs.dbl_sys_exit;
		return &s->links.dbl_sys_exit;
	case DATA_HOOK_UNIX_QUEUED:
		*prog = s->progs.dbl_unix_queued;
		return &s->links.dbl_unix_queued;
	case DATA_HOOK_SEND_ENTER:
		*prog = s->progs.dbl_send_enter;
		return &s->links.dbl_send_enter;
	case DATA_HOOK_SCHED_SWITCH:
		*prog = s->progs.dbl_sched_switch;
		return &s->links.dbl_sched_switch;
	}
	return NULL;
}

/*
 * Pool waits are not timed in windows (they need every call), so a window
 * leaves the context-switch hook out: each hook attached or detached
 * patches the kernel's text, and the load stalls while it does.
 */
static bool data_hook_wanted(struct tracer *t, int i)
{
	return i != DATA_HOOK_SCHED_SWITCH || !__atomic_load_n(&t->skel->bss->windows_on, __ATOMIC_ACQUIRE);
}

/*
 * Under a budget the data-ready hook may stay between windows (it leaves
 * at its first test while none is open): attaching it stalls the load. At
 * 7,000 tps on a 2-CPU VM, calls that ended in the 30 ms before a window's
 * hooks came back took over 2 ms 1.2% of the time with it switched too,
 * none with it kept (0.24% far from any window). But it runs on every
 * socket's wakeup on the host, about 180 ns each, so the budget decides
 * (user/budget.h).
 */
static bool data_hook_stays(struct tracer *t, int i)
{
	return i == DATA_HOOK_UNIX_QUEUED && t->keep_ready;
}

void tracer_keep_ready_hook(struct tracer *t, bool keep)
{
	t->keep_ready = keep;
}

int tracer_data_hooks(struct tracer *t, bool on)
{
	struct bpf_program *prog;
	struct bpf_link **link;
	int i, err = 0;

	for (i = 0; (link = data_hook(t, i, &prog)); i++) {
		if (!on && *link && !data_hook_stays(t, i)) {
			bpf_link__destroy(*link);
			*link = NULL;
			t->hooks_off |= 1u << i;
		} else if (on && (t->hooks_off & (1u << i)) && data_hook_wanted(t, i)) {
			/* Attached meanwhile (tracer_stamp_unix_sends). */
			if (!*link)
				*link = bpf_program__attach(prog);
			if (!*link) {
				err = -errno;
				fprintf(stderr, "dblat: cannot attach %s again: %s\n", bpf_program__name(prog),
					strerror(errno));
				continue;
			}
			t->hooks_off &= ~(1u << i);
		}
	}
	return err;
}

void tracer_windows(struct tracer *t, bool on)
{
	__atomic_store_n(&t->skel->bss->windows_on, on ? 1 : 0, __ATOMIC_RELEASE);
	/* Every call again: the context-switch hook, left out of windows, comes back. */
	if (!on && (t->hooks_off & (1u << DATA_HOOK_SCHED_SWITCH)))
		tracer_data_hooks(t, true);
}

int tracer_conns_map(struct tracer *t)
{
	return bpf_map__fd(t->skel->maps.conns);
}

int tracer_ignored_map(struct tracer *t)
{
	return bpf_map__fd(t->skel->maps.ignored);
}

void tracer_deliver(struct tracer *t, void *data, size_t size)
{
	t->fn(t->fn_ctx, data, size);
}

/* Unix sends are stamped where their bytes reach the peer, or else at syscall entry. */
void tracer_stamp_unix_sends(struct tracer *t)
{
	if (!t)
		return;
	if (!t->unix_queued_failed &&
	    attach_later(t->skel->progs.dbl_unix_queued, &t->skel->links.dbl_unix_queued, &t->unix_queued_failed,
			 "cannot hook sk_data_ready: Unix sends are stamped at syscall entry instead"))
		return;
	attach_later(t->skel->progs.dbl_send_enter, &t->skel->links.dbl_send_enter, &t->send_enter_failed,
		     "cannot hook syscall entry: requests over Unix sockets are timed from their send's return");
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	stage_probes_destroy(t->stages);
	tls_probes_destroy(t->tls);
	for (int i = 0; t->srcs && i < t->nrings; i++) {
		ring_buffer__free(t->srcs[i].rb);
		if (t->srcs[i].pos)
			munmap((void *)t->srcs[i].pos, 2 * t->page);
		if (t->srcs[i].fd >= 0)
			close(t->srcs[i].fd);
	}
	if (t->epfd >= 0)
		close(t->epfd);
	free(t->srcs);
	ring_merge_free(t->merge);
	wire_bpf__destroy(t->skel);
	free(t);
}
