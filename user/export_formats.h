/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The export writers. Each file writer returns 0, or -1 after printing
 * "dblat: cannot write FILE: reason".
 */
#ifndef DBLAT_EXPORT_FORMATS_H
#define DBLAT_EXPORT_FORMATS_H

#include <stdio.h>
#include "flame.h"
#include "summary.h"

/* Folded stacks: "frame;frame;frame weight" per line, zero weights left out. */
void folded_write(FILE *out, const struct flame *f, enum flame_weight w);
int folded_file(const char *path, const struct flame *f, enum flame_weight w);
/* Two-column folded diff: "frames weightA weightB", stacks of either. */
void folded_diff_write(FILE *out, const struct flame *a, const struct flame *b, enum flame_weight w);
int folded_diff_file(const char *path, const struct flame *a, const struct flame *b, enum flame_weight w);

/* gzip-compressed pprof profile: values calls/count and wall/microseconds. */
int pprof_file(const char *path, const struct flame *f, double duration_s);
/* The uncompressed protobuf, malloc'd into *buf; 0 or -1 (out of memory). */
int pprof_encode(const struct flame *f, double duration_s, unsigned char **buf, size_t *len);

/* Prometheus text exposition format 0.0.4. */
void prom_write(FILE *out, const struct summary *s);
int prom_file(const char *path, const struct summary *s);

/* One self-contained HTML page. */
int html_file(const char *path, const struct summary *s, const struct flame *f, enum flame_weight w);

#endif
