/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Backends by database, user and application_name (labels.c). */
#ifndef DBLAT_LABELS_H
#define DBLAT_LABELS_H

#include <stdbool.h>
#include <stdint.h>
#include "pgwire.h"

struct collector;
struct conn;

void labels_startup(struct collector *c, struct conn *k, const struct pg_startup *su, uint64_t ts);
void labels_call(struct collector *c, struct conn *k, uint64_t lat_ns, bool error);
void labels_end(struct collector *c, struct conn *k, uint64_t ts);

#endif
