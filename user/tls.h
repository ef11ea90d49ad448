/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Encrypted PostgreSQL connections in the collector: the TLS probes'
 * plaintext bound to its connection and framed like any other bytes
 * (tls.c), and, for connections no plaintext comes for, request/response
 * round trips timed from the ciphertext alone (tls_timing.c).
 */
#ifndef DBLAT_TLS_H
#define DBLAT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dblat.h"

struct collector;
struct conn;

#define TLS_FP_TIMING "<encrypted: statement text unavailable>"

/* What the collector knows of one encrypted connection (struct conn.tls). */
struct tls_conn {
	bool plain;		/* plaintext was bound to it: its statements come from that */
	bool timing;		/* its set-up ended without plaintext: round trips are timed */
	bool setup_done;	/* TLS handshake and authentication are over */
	uint8_t rt;		/* round trip: idle, request going, response coming */
	uint8_t resp_type;	/* TLS content type the response began with */
	uint64_t req_ts, resp_ts;
	uint64_t resp_bytes;
	uint64_t setup_start;	/* the request that carried the startup message */
};

/* DBLAT_EV_TLS_DATA: plaintext from the TLS probes. */
void tls_on_plaintext(struct collector *c, const struct dblat_event *ev, size_t size);
/* A DBLAT_F_TLS data event of k (data: its cap_len bytes). */
void tls_on_cipher(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data);
/* k ends (close, exit, end of the run): settle its last round trip. */
void tls_conn_end(struct collector *c, struct conn *k);
/* Process tgid exited: forget its threads and SSL objects. */
void tls_process_exit(struct collector *c, uint32_t tgid);
void tls_free(struct collector *c);
/* The fingerprint id of TLS_FP_TIMING. */
uint32_t tls_timing_fp(struct collector *c);

/* tls_timing.c */
void tls_timing_on_cipher(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data);
void tls_timing_end(struct collector *c, struct conn *k);

#endif
