/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* PostgreSQL servers on this host, seen from outside. */
#ifndef DBLAT_PGSERVER_H
#define DBLAT_PGSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "dblat.h"

/* The parent of pid from /proc, or -1. */
pid_t proc_ppid(pid_t pid);

/* Postmasters running now (postgres processes whose parent is not postgres). */
int pgserver_postmasters(pid_t *out, int max);

/* Where postmaster's backends keep their activity text; why says what failed. */
int pgserver_resolve(pid_t postmaster, struct dblat_be_entry *out, char *why, size_t whylen);

#endif
