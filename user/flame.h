/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The summary as weighted stacks, the common input of the folded, pprof and
 * flame-graph writers:
 *
 *   side:comm ; phase ; statement fingerprint [; stage]
 *   side:comm ; session setup ; connect|tls|startup|auth|init
 *   side:comm ; idle in transaction
 *   server:comm ; METHOD route ; pool wait | app | phase ; statement fingerprint
 *
 * The last is the request layer of a traced HTTP server: the statements
 * bound to its requests (reqbind.c) move there from their client stacks, so
 * a request frame is as wide as its requests' time, pool wait and the rest
 * ("app") included.
 *
 * A statement with stage measurements gets one stack per stage and one for
 * its own (self) time, which add up to its total exactly: self is the total
 * less the stages, and stages that add up to more than the total (they may
 * overlap) are scaled down to it. Stage stacks carry no calls: the calls
 * stay on the statement's own stack.
 */
#ifndef DBLAT_FLAME_H
#define DBLAT_FLAME_H

#include <stdint.h>
#include "summary.h"

#define FLAME_SESSION_SETUP "session setup"
#define FLAME_IDLE_IN_TXN "idle in transaction"
#define FLAME_POOL_WAIT "pool wait"
#define FLAME_APP "app"
#define FLAME_AFTER_RESPONSE "after response"

enum flame_weight { FLAME_WALL_US = 0, FLAME_CALLS };

struct flame_stack {
	char *key;		/* frames, root first, joined by ';' */
	uint64_t us;		/* wall time in microseconds */
	uint64_t calls;
};

struct flame {
	struct flame_stack *v;	/* sorted by key, keys unique */
	uint32_t n, cap;
};

/* Fills f (zeroed by the caller) from s; 0, or -1 when out of memory. */
int flame_from_summary(struct flame *f, const struct summary *s);
void flame_free(struct flame *f);

uint64_t flame_weight(const struct flame_stack *st, enum flame_weight w);
uint64_t flame_total(const struct flame *f, enum flame_weight w);

/* Parses "calls" or "wall"/"time"/"us"; -1 if neither. */
int flame_weight_parse(const char *s);
const char *flame_weight_unit(enum flame_weight w);	/* "us" or "calls" */

#endif
