/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * GET /metrics over HTTP while dblat runs: a non-blocking listener served
 * from the live loop, never blocking it. Each request gets one HTTP/1.0
 * answer, then the connection is closed; slow or oversized requests are
 * dropped.
 */
#ifndef DBLAT_METRICS_HTTP_H
#define DBLAT_METRICS_HTTP_H

#include "summary.h"

/*
 * Listens on ADDR: "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" (HOST
 * defaults to 127.0.0.1). 0, or -1 with a message.
 */
int metrics_listen(const char *addr);
/* Accepts and answers whatever is pending; returns at once. */
void metrics_serve(const struct summary *s);
void metrics_close(void);

/* The answer to one request (exposed for tests): a malloc'd HTTP response. */
char *metrics_response(const char *req, const struct summary *s, size_t *len);

#endif
