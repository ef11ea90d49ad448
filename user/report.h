/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Renderers of the summary model. */
#ifndef DBLAT_REPORT_H
#define DBLAT_REPORT_H

#include <stdio.h>
#include "summary.h"

#define DBLAT_JSON_SCHEMA "dblat/1"

void report_text(FILE *out, const struct summary *s, int width);
void report_live(FILE *out, const struct summary *s, double interval_s, uint32_t nconns);
int report_json(const char *path, const struct summary *s);

/* Writes s as a JSON string literal (quotes included). */
void json_str(FILE *out, const char *s);

#endif
