/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Export formats beyond the text report and --json: their command-line
 * options (an argp child of dblat's parser), the files they write at the
 * end of a run or report, and the live /metrics endpoint.
 */
#ifndef DBLAT_EXPORTS_H
#define DBLAT_EXPORTS_H

#include <argp.h>
#include "summary.h"

extern const struct argp exports_argp;

/* Called once the summary is final (live run, record or report); 0 or -1. */
int exports_write(const struct summary *s);

/* Live mode: start serving (if --listen was given), and serve pending requests. */
int exports_start(void);
void exports_poll(const struct summary *s);
void exports_stop(void);

/* `dblat diff A B [options]`: argv[0] is "diff". */
int diff_main(int argc, char **argv);

#endif
