// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Encrypted connections in the collector: the TLS probes' plaintext bound
 * to the right connection from the order of a thread's events alone
 * (socket BIOs as in libpq, memory BIOs as in asyncio, a foreign TLS
 * connection on the same thread), and round trips timed from ciphertext.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "collector.h"
#include "events.h"
#include "summary.h"
#include "tls.h"

enum { CT_CCS = 20, CT_HANDSHAKE = 22, CT_APP = 23 };

static void conn_ev(struct collector *c, uint64_t id, uint32_t tgid, int role)
{
	ev_conn_tcp(c, id, tgid, role, role == DBLAT_ROLE_CLIENT ? "app" : "postgres", (uint16_t)(40000 + id),
		    role == DBLAT_ROLE_CLIENT ? 5432 : (uint16_t)(50000 + id));
}

/* A DBLAT_F_TLS data event: the syscall moved len ciphertext bytes starting with content type ct. */
static void cipher(struct collector *c, uint64_t id, uint32_t tgid, uint32_t tid, int role, int dir,
		   uint64_t ts, uint32_t len, uint8_t ct)
{
	struct {
		struct dblat_event ev;
		uint8_t d[8];
	} e;

	memset(&e, 0, sizeof(e));
	e.ev.kind = DBLAT_EV_DATA;
	e.ev.conn_id = id;
	e.ev.tgid = tgid;
	e.ev.tid = tid;
	e.ev.fd = (int32_t)id;
	e.ev.dir = (uint8_t)dir;
	e.ev.role = (uint8_t)role;
	e.ev.stream = (role == DBLAT_ROLE_CLIENT) == (dir == DBLAT_DIR_SEND) ? DBLAT_STREAM_FE : DBLAT_STREAM_BE;
	e.ev.ts_ns = ts;
	e.ev.total_len = len;
	e.ev.cap_len = 5;
	e.ev.flags = DBLAT_F_TLS;
	e.d[0] = ct;
	e.d[1] = e.d[2] = 3;
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e)), 0);
}

static uint64_t evbuf[(sizeof(struct dblat_event) + sizeof(struct dblat_tls_data) + 4096) / 8];

/* What one SSL_read/SSL_write call moved, as the probes report it at its return. */
static void plain(struct collector *c, uint32_t tgid, uint32_t tid, int dir, uint64_t ssl,
		  uint64_t call_ns, uint64_t ret_ns, const void *p, uint32_t n)
{
	struct dblat_event *ev = (struct dblat_event *)evbuf;
	struct dblat_tls_data *td = (struct dblat_tls_data *)(ev + 1);

	memset(evbuf, 0, sizeof(evbuf));
	ev->kind = DBLAT_EV_TLS_DATA;
	ev->ts_ns = ret_ns;
	ev->tgid = tgid;
	ev->tid = tid;
	ev->fd = -1;
	ev->dir = (uint8_t)dir;
	ev->total_len = ev->cap_len = n;
	ev->flags = DBLAT_F_PLAINTEXT;
	td->ssl = ssl;
	td->call_ns = call_ns;
	memcpy(td + 1, p, n);
	CHECK_EQ_INT(collector_handle(c, evbuf, sizeof(*ev) + sizeof(*td) + dblat_data_pad(n)), 0);
}

struct msgs {
	uint8_t b[512];
	uint32_t n;
};

static void put(struct msgs *m, char type, const void *body, uint32_t len)
{
	uint32_t l = len + 4;

	m->b[m->n++] = (uint8_t)type;
	m->b[m->n++] = (uint8_t)(l >> 24);
	m->b[m->n++] = (uint8_t)(l >> 16);
	m->b[m->n++] = (uint8_t)(l >> 8);
	m->b[m->n++] = (uint8_t)l;
	memcpy(m->b + m->n, body, len);
	m->n += len;
}

static struct msgs query(const char *sql)
{
	struct msgs m = { .n = 0 };

	put(&m, 'Q', sql, (uint32_t)strlen(sql) + 1);
	return m;
}

static struct msgs answer(void)
{
	struct msgs m = { .n = 0 };

	put(&m, 'C', "SELECT 1", 9);
	put(&m, 'Z', "I", 1);
	return m;
}

static uint32_t fp_of(struct summary *s, const char *text)
{
	return summary_intern(s, text, (uint32_t)strlen(text));
}

static uint64_t calls(struct summary *s, const char *text, int side)
{
	struct stmt_stats *st = summary_stmt(s, fp_of(s, text), (uint8_t)side,
					     side == SIDE_CLIENT ? "app" : "postgres");

	return st ? st->calls : 0;
}

static void handshake(struct collector *c, uint64_t id, uint32_t tgid, uint32_t tid, uint64_t ts)
{
	cipher(c, id, tgid, tid, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, ts, 293, CT_HANDSHAKE);
	cipher(c, id, tgid, tid, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, ts + 5, 1500, CT_HANDSHAKE);
}

TEST(tls_socket_bio_binds_by_the_syscall_inside_the_call)
{
	struct summary *s = summary_new();
	struct collector *c = collector_new(s, NULL, NULL);
	struct msgs qa = query("SELECT a FROM t1"), qb = query("SELECT b FROM t2"), ans = answer();
	struct stmt_stats *st;

	/* One thread, two connections (pgbench -j 1 -c 2). */
	conn_ev(c, 1, 100, DBLAT_ROLE_CLIENT);
	conn_ev(c, 2, 100, DBLAT_ROLE_CLIENT);
	handshake(c, 1, 100, 100, 10);
	handshake(c, 2, 100, 100, 30);
	/* SSL_write sends inside the call: the send names the connection. */
	cipher(c, 1, 100, 100, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 105, qa.n + 22, CT_APP);
	plain(c, 100, 100, DBLAT_DIR_SEND, 0xa0, 100, 110, qa.b, qa.n);
	cipher(c, 2, 100, 100, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 125, qb.n + 22, CT_APP);
	plain(c, 100, 100, DBLAT_DIR_SEND, 0xb0, 120, 130, qb.b, qb.n);
	/* SSL_read receives inside the call. */
	cipher(c, 2, 100, 100, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, 205, ans.n + 22, CT_APP);
	plain(c, 100, 100, DBLAT_DIR_RECV, 0xb0, 200, 210, ans.b, ans.n);
	/* Served from OpenSSL's buffer: no syscall, and the thread last read connection 2. */
	plain(c, 100, 100, DBLAT_DIR_RECV, 0xa0, 300, 310, ans.b, ans.n);
	collector_finish(c, 1000);

	CHECK_EQ_INT(calls(s, "SELECT a FROM t1", SIDE_CLIENT), 1);
	CHECK_EQ_INT(calls(s, "SELECT b FROM t2", SIDE_CLIENT), 1);
	CHECK_EQ_INT(s->ctr.unmatched, 0);
	CHECK_EQ_INT(s->ctr.tls_unbound, 0);
	CHECK_EQ_INT(s->ctr.conns_tls, 2);
	CHECK_EQ_INT(s->ctr.conns_tls_plain, 2);
	st = summary_stmt(s, fp_of(s, "SELECT a FROM t1"), SIDE_CLIENT, "app");
	if (st) {
		CHECK_EQ_INT(st->encrypted_calls, 1);
		/* From SSL_write's entry to SSL_read's return. */
		CHECK_EQ_INT(st->lat.sum, 310 - 100);
	}
	collector_free(c);
	summary_free(s);
}

TEST(tls_memory_bio_binds_by_the_thread_order)
{
	struct summary *s = summary_new();
	struct collector *c = collector_new(s, NULL, NULL);
	struct msgs qa = query("SELECT a FROM t1"), qb = query("SELECT b FROM t2"), ans = answer();
	static const char post[] = "POST /v1/pay HTTP/1.1\r\nHost: api\r\n\r\n";
	static const char http[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	/* asyncio: one loop thread, two connections, TLS over memory BIOs. */
	conn_ev(c, 3, 200, DBLAT_ROLE_CLIENT);
	conn_ev(c, 4, 200, DBLAT_ROLE_CLIENT);
	handshake(c, 3, 200, 200, 10);
	handshake(c, 4, 200, 200, 30);
	/* SSL_write_ex returns before the loop sends the ciphertext. */
	plain(c, 200, 200, DBLAT_DIR_SEND, 0xc0, 100, 101, qa.b, qa.n);
	cipher(c, 3, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 102, qa.n + 22, CT_APP);
	plain(c, 200, 200, DBLAT_DIR_SEND, 0xd0, 103, 104, qb.b, qb.n);
	cipher(c, 4, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 105, qb.n + 22, CT_APP);
	/* The loop reads the socket, then SSL_read_ex decrypts: answers in the other order. */
	cipher(c, 4, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, 200, ans.n + 22, CT_APP);
	plain(c, 200, 200, DBLAT_DIR_RECV, 0xd0, 201, 202, ans.b, ans.n);
	cipher(c, 3, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, 300, ans.n + 22, CT_APP);
	plain(c, 200, 200, DBLAT_DIR_RECV, 0xc0, 301, 302, ans.b, ans.n);
	/* An HTTPS client on the same loop: its bytes go to no connection. */
	plain(c, 200, 200, DBLAT_DIR_SEND, 0xe0, 400, 401, post, sizeof(post) - 1);
	plain(c, 200, 200, DBLAT_DIR_SEND, 0xc0, 402, 403, qa.b, qa.n);
	cipher(c, 3, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_SEND, 404, qa.n + 22, CT_APP);
	cipher(c, 3, 200, 200, DBLAT_ROLE_CLIENT, DBLAT_DIR_RECV, 500, ans.n + 22, CT_APP);
	plain(c, 200, 200, DBLAT_DIR_RECV, 0xe0, 501, 502, http, sizeof(http) - 1);
	plain(c, 200, 200, DBLAT_DIR_RECV, 0xc0, 503, 504, ans.b, ans.n);
	collector_finish(c, 1000);

	CHECK_EQ_INT(calls(s, "SELECT a FROM t1", SIDE_CLIENT), 2);
	CHECK_EQ_INT(calls(s, "SELECT b FROM t2", SIDE_CLIENT), 1);
	CHECK_EQ_INT(s->ctr.unmatched, 0);
	CHECK_EQ_INT(s->ctr.tls_unbound, 2);
	CHECK_EQ_INT(s->ctr.conns_tls_plain, 2);
	collector_free(c);
	summary_free(s);
}

/* One client round trip: a request of len bytes, its answer in a header read and a body read. */
static void rt(struct collector *c, uint64_t id, int role, uint64_t ts, uint32_t req, uint8_t req_ct,
	       uint32_t resp, uint8_t resp_ct)
{
	int in = role == DBLAT_ROLE_CLIENT ? DBLAT_DIR_RECV : DBLAT_DIR_SEND;
	int out = role == DBLAT_ROLE_CLIENT ? DBLAT_DIR_SEND : DBLAT_DIR_RECV;

	cipher(c, id, 300, 300, role, out, ts, req, req_ct);
	if (!resp)
		return;
	if (role == DBLAT_ROLE_CLIENT) {
		cipher(c, id, 300, 300, role, in, ts + 40, 5, resp_ct);
		cipher(c, id, 300, 300, role, in, ts + 50, resp - 5, 0x9f);
	} else {
		cipher(c, id, 300, 300, role, in, ts + 50, resp, resp_ct);
	}
}

TEST(tls_timing_only_counts_statements_not_set_up)
{
	int role;

	for (role = DBLAT_ROLE_CLIENT; role <= DBLAT_ROLE_SERVER; role++) {
		struct summary *s = summary_new();
		struct collector *c = collector_new(s, NULL, NULL);
		int side = role == DBLAT_ROLE_CLIENT ? SIDE_CLIENT : SIDE_SERVER;
		struct stmt_stats *st;
		uint32_t i;

		conn_ev(c, 5, 300, role);
		/* TLS 1.3 with a HelloRetryRequest: two handshake round trips. */
		rt(c, 5, role, 1000, 293, CT_HANDSHAKE, 93, CT_HANDSHAKE);
		rt(c, 5, role, 2000, 332, CT_CCS, 1400, CT_CCS);
		/* Finished and the startup message; SCRAM's two exchanges; then the session. */
		rt(c, 5, role, 3000, 162, CT_APP, 50, CT_APP);
		rt(c, 5, role, 4000, 80, CT_APP, 120, CT_APP);
		rt(c, 5, role, 5000, 130, CT_APP, 460, CT_APP);
		for (i = 0; i < 3; i++)
			rt(c, 5, role, 10000 + 1000 * i, 83, CT_APP, 88, CT_APP);
		/* Terminate: the client gets no answer, the backend answers close_notify. */
		rt(c, 5, role, 20000, 27, CT_APP, role == DBLAT_ROLE_CLIENT ? 0 : 24, CT_APP);
		collector_finish(c, 30000);

		st = summary_stmt(s, fp_of(s, TLS_FP_TIMING), (uint8_t)side,
				  role == DBLAT_ROLE_CLIENT ? "app" : "postgres");
		CHECK(st != NULL);
		if (st) {
			CHECK_EQ_INT(st->calls, 3);
			CHECK_EQ_INT(st->encrypted_calls, 3);
			CHECK_EQ_INT(st->lat.sum, 3 * 50);
		}
		CHECK_EQ_INT(s->ctr.conns_tls_timing, 1);
		CHECK_EQ_INT(s->nprocs, 1);
		if (s->nprocs) {
			CHECK_EQ_INT(s->procs[0]->opened, 1);
			CHECK_EQ_INT(s->procs[0]->failed[FAIL_RESET], 0);
		}
		collector_free(c);
		summary_free(s);
	}
}
