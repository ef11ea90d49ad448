/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* --server-stages: PostgreSQL's USDT probes, feeding the wire object's ring buffer. */
#ifndef DBLAT_STAGE_PROBES_H
#define DBLAT_STAGE_PROBES_H

#include <stdint.h>
#include "tracer.h"

struct bpf_object;
struct stage_probes;

/*
 * Loads the stage programs with wire's events, stats, targets and
 * target_comms maps, and attaches them to the binary of every running
 * postmaster that o targets, for all of its processes. Returns NULL, after
 * one line on stderr, when there is nothing to attach or it failed: tracing
 * goes on without server stages.
 */
struct stage_probes *stage_probes_attach(struct bpf_object *wire, const struct tracer_opts *o,
					 uint64_t wakeup_bytes);
void stage_probes_destroy(struct stage_probes *sp);

#endif
