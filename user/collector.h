/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The collector turns ring-buffer events into the summary: one decoder and
 * one request/response tracker per traced connection.
 */
#ifndef DBLAT_COLLECTOR_H
#define DBLAT_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "summary.h"

struct collector;

/* reject(ctx, tgid, fd) is called when a connection turns out not to be PostgreSQL. */
typedef void (*collector_reject_fn)(void *ctx, uint32_t tgid, int32_t fd);

struct collector *collector_new(struct summary *sum, collector_reject_fn reject, void *reject_ctx);

void collector_free(struct collector *c);

/* One ring-buffer record; returns 0, or -1 when it is malformed. */
int collector_handle(struct collector *c, const void *data, size_t size);

/* The run ended at ts: settle time-weighted counters. */
void collector_finish(struct collector *c, uint64_t ts);

/* Connections currently tracked. */
uint32_t collector_nconns(const struct collector *c);
/* Is a traced process serving HTTP now (its requests are bound to their statements)? */
bool collector_serves_http(const struct collector *c);

#endif
