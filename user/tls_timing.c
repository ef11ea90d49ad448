// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Encrypted connections no plaintext comes for (--no-tls-probes, or a TLS
 * library the probes do not cover): statements timed as request/response
 * round trips of the ciphertext, under one fingerprint that says so.
 *
 * Client side, a send after a receive (or the first send) starts a request
 * and the last receive before the next send ends it; server side, the same
 * with the directions swapped. A request is timed from its first byte
 * handed to the kernel to the last byte of its answer, as for unencrypted
 * traffic.
 *
 * The first round trips are the connection's set-up, not statements:
 *  - the TLS handshake: round trips answered with handshake records
 *    (content type 22) or a ChangeCipherSpec (20), which the wire programs
 *    let through as the first bytes of each encrypted buffer;
 *  - then the exchange that carries the startup message, and any password
 *    or SASL exchange after it. These answers are small; the one that ends
 *    the set-up carries AuthenticationOk, a dozen ParameterStatus messages,
 *    BackendKeyData and ReadyForQuery: hundreds of bytes.
 * An answer too short to hold any PostgreSQL message is a TLS alert (the
 * close_notify a backend sends when its client says Terminate).
 */
#include <string.h>
#include "conn.h"
#include "tls.h"

enum { RT_IDLE = 0, RT_REQUEST, RT_RESPONSE };

#define CT_CHANGE_CIPHER_SPEC 20
#define CT_HANDSHAKE 22
#define SETUP_ANSWER_MIN 256	/* bytes of the answer that ends the set-up, at least */
/*
 * A TLS 1.3 record is 5 header bytes, the content, 1 type byte and a 16-byte
 * tag: a close_notify (2 bytes) makes 24, the smallest message (5) 27.
 */
#define ANSWER_MIN 26

static bool is_request(const struct conn *k, const struct dblat_event *ev)
{
	return (k->role == DBLAT_ROLE_SERVER) == (ev->dir == DBLAT_DIR_RECV);
}

/* The set-up is over: tell the session tracker what the messages would have. */
static void session_ready(struct collector *c, struct conn *k, uint64_t start, uint64_t ts)
{
	static const uint8_t startup[5] = { 0, 3, 0, 0, 0 };	/* protocol 3.0, no parameters */
	static const uint8_t idle = 'I';
	struct pg_msg m = {
		.kind = PG_MSG_UNTYPED, .stream = DBLAT_STREAM_FE, .len = sizeof(startup),
		.body = startup, .body_len = sizeof(startup), .count = 1, .ts_ns = start,
	};

	session_msg(c, k, &m);
	m = (struct pg_msg){
		.kind = PG_MSG_TYPED, .stream = DBLAT_STREAM_BE, .type = 'Z', .len = 1,
		.body = &idle, .body_len = 1, .count = 1, .ts_ns = ts,
	};
	session_msg(c, k, &m);
}

static void rt_done(struct collector *c, struct conn *k)
{
	struct tls_conn *t = k->tls;
	struct done_call d;
	int i;

	t->rt = RT_IDLE;
	if (!t->setup_done) {
		if (t->resp_type == CT_HANDSHAKE || t->resp_type == CT_CHANGE_CIPHER_SPEC)
			return;
		if (!t->setup_start)
			t->setup_start = t->req_ts;
		if (t->resp_bytes < SETUP_ANSWER_MIN)
			return;
		t->setup_done = true;
		if (!t->plain) {
			t->timing = true;
			c->sum->ctr.conns_tls_timing++;
			session_ready(c, k, t->setup_start, t->resp_ts);
		}
		return;
	}
	if (t->plain || !t->timing || t->resp_bytes < ANSWER_MIN)
		return;
	memset(&d, 0, sizeof(d));
	d.fp = tls_timing_fp(c);
	d.start = t->req_ts;
	d.end = t->resp_ts;
	for (i = 0; i < STAGE_N; i++)
		d.stage[i] = UINT64_MAX;
	k->last_done = d.end;
	/* Both ends timed this way pair up like any other calls: queue, server, reply. */
	if (k->role == DBLAT_ROLE_SERVER) {
		collector_record(c, k, &d, NULL);
		join_server_done(c, k, &d);
	} else if (!join_client_done(c, k, &d)) {
		collector_record(c, k, &d, NULL);
	}
}

void tls_timing_on_cipher(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data)
{
	struct tls_conn *t = k->tls;

	if (is_request(k, ev)) {
		if (t->rt == RT_RESPONSE)
			rt_done(c, k);
		if (t->rt == RT_IDLE) {
			t->rt = RT_REQUEST;
			t->req_ts = ev->ts_ns;
			t->resp_type = 0;
			t->resp_bytes = 0;
			if (t->timing)
				session_busy(c, k, true, ev->ts_ns);
		}
		return;
	}
	if (t->rt == RT_IDLE)
		return;		/* nothing was asked: a notification, or an alert */
	if (t->rt == RT_REQUEST) {
		t->rt = RT_RESPONSE;
		t->resp_type = ev->cap_len ? data[0] : 0;
		if (t->timing)
			session_busy(c, k, false, ev->ts_ns);
	}
	t->resp_ts = ev->ts_ns;
	t->resp_bytes += ev->total_len;
}

void tls_timing_end(struct collector *c, struct conn *k)
{
	if (k->tls->rt == RT_RESPONSE)
		rt_done(c, k);
	k->tls->rt = RT_IDLE;
}
