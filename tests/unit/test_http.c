// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * HTTP server connections in the collector (http.c): which answers reached
 * their client. A client that closes with a response unread resets the
 * connection; one that closed before the response was written has its FIN
 * in before it (DBLAT_F_PEER_CLOSED), or a FIN that does not acknowledge it
 * (the same flag on the end of file); a request the connection closed on
 * before any answer is counted apart; tracing that ends mid-request is none
 * of these.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "collector.h"

#define PID 4242
#define MS 1000000ull

struct http_ev {
	struct dblat_event ev;
	char data[64];
};

static void feed(struct collector *c, uint64_t conn, uint8_t kind, uint8_t dir, uint64_t ts, const char *text,
		 uint16_t flags, int32_t ret)
{
	struct http_ev e = {};
	size_t n = text ? strlen(text) : 0;

	e.ev.kind = kind;
	e.ev.ts_ns = ts;
	e.ev.conn_id = conn;
	e.ev.tgid = e.ev.tid = PID;
	e.ev.fd = (int32_t)conn + 10;
	e.ev.role = DBLAT_ROLE_HTTP;
	e.ev.dir = dir;
	e.ev.flags = flags;
	e.ev.ret = ret;
	e.ev.total_len = e.ev.cap_len = (uint32_t)n;
	strcpy(e.ev.comm, "app");
	memcpy(e.data, text ? text : "", n);
	CHECK_EQ_INT(collector_handle(c, &e, sizeof(e.ev) + dblat_data_pad((uint32_t)n)), 0);
}

static void request(struct collector *c, uint64_t conn, uint64_t ts)
{
	feed(c, conn, DBLAT_EV_HTTP, DBLAT_DIR_RECV, ts, "GET /models HTTP/1.1\r\n", 0, 0);
}

static void answer(struct collector *c, uint64_t conn, uint64_t ts, uint16_t flags)
{
	feed(c, conn, DBLAT_EV_HTTP, DBLAT_DIR_SEND, ts, "HTTP/1.1 200 OK\r\n", flags, 0);
}

static void peer_gone(struct collector *c, uint64_t conn, uint64_t ts, int32_t ret, uint16_t flags)
{
	feed(c, conn, DBLAT_EV_EOF, DBLAT_DIR_RECV, ts, NULL, flags, ret);
	feed(c, conn, DBLAT_EV_CLOSE, 0, ts + 1, NULL, 0, 0);
}

TEST(http_answers_the_client_never_read)
{
	struct summary *s = summary_new();
	struct collector *c = collector_new(s, NULL, NULL);
	const struct route_stats *r;

	/* 1: two answered and read, then a clean close. */
	request(c, 1, 1 * MS);
	answer(c, 1, 2 * MS, 0);
	request(c, 1, 3 * MS);
	answer(c, 1, 4 * MS, 0);
	peer_gone(c, 1, 5 * MS, 0, 0);
	/* 2: the client closed with its answer unread: its kernel reset the connection. */
	request(c, 2, 1 * MS);
	answer(c, 2, 2 * MS, 0);
	peer_gone(c, 2, 3 * MS, -104, 0);
	/* 3: answered after the client's FIN came in. */
	request(c, 3, 1 * MS);
	answer(c, 3, 2 * MS, DBLAT_F_PEER_CLOSED);
	peer_gone(c, 3, 3 * MS, 0, 0);
	/* 4: closed before any answer. */
	request(c, 4, 1 * MS);
	peer_gone(c, 4, 2 * MS, 0, 0);
	/* 6: the reset came after the FIN: TCP reports it as EPIPE. */
	request(c, 6, 1 * MS);
	answer(c, 6, 2 * MS, 0);
	peer_gone(c, 6, 3 * MS, -32, 0);
	/* 7: the FIN did not acknowledge the answer: it reached a closed socket. */
	request(c, 7, 1 * MS);
	answer(c, 7, 2 * MS, 0);
	peer_gone(c, 7, 3 * MS, 0, DBLAT_F_PEER_CLOSED);
	/* 8: the rest of the answer failed to go out: reset. */
	request(c, 8, 1 * MS);
	answer(c, 8, 2 * MS, 0);
	feed(c, 8, DBLAT_EV_EOF, DBLAT_DIR_SEND, 3 * MS, NULL, 0, -104);
	feed(c, 8, DBLAT_EV_CLOSE, 0, 4 * MS, NULL, 0, 0);
	/* 5: still waiting for its answer when tracing ends. */
	request(c, 5, 1 * MS);
	collector_finish(c, 10 * MS);

	CHECK_EQ_INT(s->nroutes, 1);
	if (s->nroutes == 1) {
		r = &s->routes[0];
		CHECK_STR(r->route, "/models");
		CHECK_EQ_INT(r->count, 7);
		CHECK_EQ_INT(r->unread, 5);
		CHECK_EQ_INT(r->no_response, 1);
	}
	collector_free(c);
	summary_free(s);
}
