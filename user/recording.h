/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Recordings: the raw ring-buffer records of a run, zlib-compressed, so
 * `dblat report` feeds them through the same collector and rebuilds every
 * report exactly as live mode would have.
 *
 * File format (version 2), all integers little-endian, inside one gzip stream:
 *   header:  "DBLATREC" (8 bytes), u32 version, u32 reserved, u64 start_ns
 *   records: u32 size, then size bytes of a struct dblat_event record
 *   trailer: u32 0xffffffff, then struct rec_trailer
 * Version 1 gave a budget's window record its budget in whole percent, not
 * millionths of the CPUs: read, it is converted.
 */
#ifndef DBLAT_RECORDING_H
#define DBLAT_RECORDING_H

#include <stddef.h>
#include <stdint.h>
#include "summary.h"

#define REC_MAGIC "DBLATREC"
#define REC_VERSION 2

struct rec_trailer {
	double duration_s;
	uint64_t dropped, lost_sync, tail_overflow;
	uint64_t start_ns, end_ns;
};

struct recorder;
struct recorder *recorder_open(const char *path, uint64_t start_ns);
int recorder_write(struct recorder *r, const void *data, uint32_t size);
int recorder_close(struct recorder *r, const struct summary *s);	/* writes the trailer */

typedef int (*replay_fn)(void *ctx, void *data, size_t size);
/* Feeds every record to fn, then fills s's duration and BPF counters from the trailer. */
int recording_replay(const char *path, replay_fn fn, void *ctx, struct summary *s);

#endif
