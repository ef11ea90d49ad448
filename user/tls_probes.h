/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* TLS plaintext probes: bpf/tls.bpf.c on libssl, feeding the wire object's ring buffer. */
#ifndef DBLAT_TLS_PROBES_H
#define DBLAT_TLS_PROBES_H

#include <stdint.h>
#include "tracer.h"

struct bpf_object;
struct tls_probes;

/*
 * Loads the TLS programs with wire's events, stats and tls_procs maps, and
 * attaches them to SSL_write, SSL_write_ex, SSL_read and SSL_read_ex of
 * every libssl the targeted processes have mapped, plus the system's, for
 * all processes (pid -1). Returns NULL, after one line on stderr, when
 * nothing could be attached: encrypted connections are then timed only.
 */
struct tls_probes *tls_probes_attach(struct bpf_object *wire, const struct tracer_opts *o,
				     uint64_t wakeup_bytes);
void tls_probes_destroy(struct tls_probes *tp);

#endif
