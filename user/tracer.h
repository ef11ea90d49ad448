/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Loads, attaches and detaches dblat's BPF programs; reads their counters. */
#ifndef DBLAT_TRACER_H
#define DBLAT_TRACER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "dblat.h"

struct tracer;

struct tracer_opts {
	const pid_t *pids;
	int npids;
	const char *const *comms;
	int ncomms;
	uint32_t cap_fe, cap_be;	/* 0: defaults */
	uint32_t ringbuf_mb;
	bool verbose;
	bool server_stages;	/* PostgreSQL's USDT probes too (stage_probes.c) */
	bool no_tls_probes;	/* no libssl uprobes: encrypted connections are timed only */
	bool sampling;		/* connections may be traced in windows (include/sample_gate.h) */
	bool windows_at_start;	/* ... and are from the start (--sample), none open yet */
	bool self_timed;	/* a CPU budget: the data hooks count their runs and time some (tracer_self_cost) */
};

typedef int (*tracer_event_fn)(void *ctx, void *data, size_t size);

struct bpf_object;
/* Is pid traced: -p on it or an ancestor, -c on its name, or no filter at all? */
bool tracer_targeted(struct bpf_object *wire, const struct tracer_opts *o, pid_t pid);

/* Returns NULL with a message on stderr. */
struct tracer *tracer_open(const struct tracer_opts *o, tracer_event_fn fn, void *ctx);
/* Consumes what is ready; hands on what is old enough to be in order (user/ring_merge.h). */
int tracer_poll(struct tracer *t, int timeout_ms);
int tracer_drain(struct tracer *t);	/* hands on everything: tracing has stopped */
double tracer_backlog(const struct tracer *t);	/* fullest ring's share unread during the last poll */
/* CPU time of this thread spent waiting for events so far: dblat at rest, wakeups included (self_timed). */
uint64_t tracer_wait_cpu_ns(const struct tracer *t);
void tracer_stats(struct tracer *t, uint64_t out[DBLAT_STAT_NR]);
void tracer_ignore_conn(struct tracer *t, uint32_t tgid, int32_t fd);
/* A PostgreSQL connection over a Unix socket exists: hook send entries from now on. */
void tracer_stamp_unix_sends(struct tracer *t);
uint64_t tracer_map_bytes(struct tracer *t);
/* Sampling (user/sampler.c): open (on) or close a window; connections follow between their calls. */
void tracer_sample_window(struct tracer *t, bool on);
/* Connections are traced in windows (on), or every call (include/sample_gate.h keeps count either way). */
void tracer_windows(struct tracer *t, bool on);
/* What the data hooks have cost so far, summed over the CPUs (self_timed). */
int tracer_self_cost(struct tracer *t, struct dblat_self_cost *sum);
/*
 * Detach (on false) or attach again the hooks of the data path; 0 or
 * -errno. With tracer_keep_ready_hook(t, true) the data-ready hook stays.
 */
int tracer_data_hooks(struct tracer *t, bool on);
void tracer_keep_ready_hook(struct tracer *t, bool keep);
int tracer_conns_map(struct tracer *t);
int tracer_ignored_map(struct tracer *t);
/* Hand an event made in user space to the consumer, as if it came from a ring. */
void tracer_deliver(struct tracer *t, void *data, size_t size);
void tracer_close(struct tracer *t);

#endif
