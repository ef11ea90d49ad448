// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "bpf_sim.h"
#include "pgwire.h"

/* ---- byte buffers and message builders ---- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void b_put(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->n + n > b->cap) {
		size_t c = b->cap ? b->cap : 256;

		while (c < b->n + n)
			c *= 2;
		b->p = realloc(b->p, c);
		if (!b->p)
			abort();
		b->cap = c;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void b_u8(struct buf *b, uint8_t v)
{
	b_put(b, &v, 1);
}

static void b_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	b_put(b, x, 2);
}

static void b_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	b_put(b, x, 4);
}

static void b_str(struct buf *b, const char *s)
{
	b_put(b, s, strlen(s) + 1);
}

static void b_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put32_at(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One protocol stream with its ground truth. */
struct truth {
	enum pg_msg_kind kind;
	char type;
	uint32_t len;		/* body length */
	size_t body;		/* offset of the body in the stream */
};

struct pstream {
	struct buf b;
	struct truth *t;
	size_t nt, capt;
	size_t open;		/* offset of the message being built */
	bool open_untyped;
};

static void ps_free(struct pstream *s)
{
	b_free(&s->b);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

static void m_begin(struct pstream *s, char type)
{
	s->open = s->b.n;
	s->open_untyped = false;
	b_u8(&s->b, (uint8_t)type);
	b_u32(&s->b, 0);
}

static void m_begin_untyped(struct pstream *s)
{
	s->open = s->b.n;
	s->open_untyped = true;
	b_u32(&s->b, 0);
}

static void add_truth(struct pstream *s, enum pg_msg_kind kind, char type, uint32_t len, size_t body)
{
	if (s->nt == s->capt) {
		s->capt = s->capt ? s->capt * 2 : 64;
		s->t = realloc(s->t, s->capt * sizeof(*s->t));
		if (!s->t)
			abort();
	}
	s->t[s->nt].kind = kind;
	s->t[s->nt].type = type;
	s->t[s->nt].len = len;
	s->t[s->nt].body = body;
	s->nt++;
}

static void m_end(struct pstream *s)
{
	size_t lenpos = s->open + (s->open_untyped ? 0 : 1);
	uint32_t len = (uint32_t)(s->b.n - lenpos);

	put32_at(s->b.p + lenpos, len);
	add_truth(s, s->open_untyped ? PG_MSG_UNTYPED : PG_MSG_TYPED,
		  s->open_untyped ? 0 : (char)s->b.p[s->open], len - 4, lenpos + 4);
}

/* ---- collected deliveries ---- */

struct got {
	struct pg_msg m;	/* body points into bodies of struct sink */
	size_t body_at;
};

struct sink {
	struct got *g;
	size_t n, cap;
	struct buf bodies;
};

static void on_msg(void *ctx, const struct pg_msg *m)
{
	struct sink *k = ctx;

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->g = realloc(k->g, k->cap * sizeof(*k->g));
		if (!k->g)
			abort();
	}
	k->g[k->n].m = *m;
	k->g[k->n].body_at = k->bodies.n;
	b_put(&k->bodies, m->body, m->body_len);
	k->n++;
}

static const uint8_t *got_body(const struct sink *k, size_t i)
{
	static const uint8_t none[1];

	return k->bodies.p ? k->bodies.p + k->g[i].body_at : none;
}

static void sink_free(struct sink *k)
{
	free(k->g);
	b_free(&k->bodies);
	memset(k, 0, sizeof(*k));
}

/* ---- hand-made events ---- */

struct evbuf {
	uint64_t words[(BPF_SIM_EVENT_MAX + 7) / 8];
};

static struct dblat_event *mk_event(struct evbuf *e, int stream, const void *data, uint32_t total,
				    uint32_t cap, uint32_t skip_in, uint16_t flags)
{
	struct dblat_event *ev = (struct dblat_event *)e->words;

	memset(e, 0, sizeof(*e));
	ev->kind = DBLAT_EV_DATA;
	ev->stream = (uint8_t)stream;
	ev->total_len = total;
	ev->cap_len = cap;
	ev->skip_in = skip_in;
	ev->flags = flags;
	if (cap)
		memcpy(ev + 1, data, cap);
	return ev;
}

static struct dblat_tail_rec *mk_rec(struct dblat_event *ev, int32_t off, char type, uint32_t len,
				     uint16_t rows_before, const void *snip, uint8_t snip_len)
{
	struct dblat_tail_rec *r = (struct dblat_tail_rec *)bpf_sim_recs(ev) + ev->nrec++;

	memset(r, 0, sizeof(*r));
	r->off = off;
	r->type = (uint8_t)type;
	r->len = len;
	r->rows_before = rows_before;
	r->snip_len = snip_len;
	if (snip_len)
		memcpy(r->snip, snip, snip_len);
	return r;
}

static int feed_ev(struct pg_framer *f, const struct dblat_event *ev, struct sink *k)
{
	return pg_framer_feed(f, ev, bpf_sim_data(ev), bpf_sim_recs(ev), on_msg, k);
}

static struct pg_msg msg_of(char type, const void *body, uint32_t body_len, uint32_t len)
{
	struct pg_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = PG_MSG_TYPED;
	m.type = type;
	m.body = body;
	m.body_len = body_len;
	m.len = len;
	m.truncated = body_len < len;
	m.count = 1;
	return m;
}

#define MSG(type, lit) msg_of(type, lit, sizeof(lit) - 1, sizeof(lit) - 1)

/* ---- framer: hand-made events ---- */

TEST(framer_single_query)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct pstream s = { 0 };
	struct dblat_event *ev;
	struct pg_str sql;

	m_begin(&s, 'Q');
	b_str(&s.b, "select 1");
	m_end(&s);
	m_begin(&s, 'S');
	m_end(&s);
	pg_framer_init(&f, true);
	ev = mk_event(&e, DBLAT_STREAM_FE, s.b.p, (uint32_t)s.b.n, (uint32_t)s.b.n, 0, DBLAT_F_RESYNC);
	ev->ts_ns = 77;
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(k.n, 2);
	if (k.n == 2) {
		CHECK_EQ_INT(k.g[0].m.type, 'Q');
		CHECK_EQ_INT(k.g[0].m.len, 9);
		CHECK_EQ_INT(k.g[0].m.body_len, 9);
		CHECK(!k.g[0].m.truncated);
		CHECK_EQ_INT(k.g[0].m.ts_ns, 77);
		CHECK_EQ_INT(k.g[0].m.count, 1);
		k.g[0].m.body = got_body(&k, 0);
		CHECK_EQ_INT(pg_parse_query(&k.g[0].m, &sql), 0);
		CHECK_PGSTR(sql, "select 1");
		CHECK_EQ_INT(k.g[1].m.type, 'S');
		CHECK_EQ_INT(k.g[1].m.len, 0);
	}
	CHECK_EQ_INT(f.resyncs, 0);
	CHECK_EQ_INT(f.bad_headers, 0);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(framer_body_across_buffers)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct pstream s = { 0 };
	struct dblat_event *ev;
	char sql[300];

	memset(sql, 'x', sizeof(sql) - 1);
	sql[sizeof(sql) - 1] = 0;
	m_begin(&s, 'Q');
	b_str(&s.b, sql);
	m_end(&s);
	pg_framer_init(&f, true);
	/* 100 bytes, then 100 bytes, then the rest */
	ev = mk_event(&e, DBLAT_STREAM_FE, s.b.p, 100, 100, 0, DBLAT_F_RESYNC);
	ev->ts_ns = 1;
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 0);
	ev = mk_event(&e, DBLAT_STREAM_FE, s.b.p + 100, 100, 100, 100, 0);
	ev->ts_ns = 2;
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 0);
	ev = mk_event(&e, DBLAT_STREAM_FE, s.b.p + 200, (uint32_t)s.b.n - 200, (uint32_t)s.b.n - 200,
		      (uint32_t)s.b.n - 200, 0);
	ev->ts_ns = 3;
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 1);
	if (k.n == 1) {
		CHECK_EQ_INT(k.g[0].m.len, 300);
		CHECK_EQ_INT(k.g[0].m.body_len, 300);
		CHECK_EQ_INT(k.g[0].m.ts_ns, 3);
		CHECK(!memcmp(got_body(&k, 0), s.b.p + 5, 300));
	}
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(framer_gap_stops_body)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	uint8_t m[5 + 100];
	struct dblat_event *ev;

	m[0] = 'd';
	put32_at(m + 1, 104);
	for (int i = 0; i < 100; i++)
		m[5 + i] = (uint8_t)i;
	pg_framer_init(&f, true);
	/* 50 bytes moved, 20 copied: body has 15 bytes, then a gap */
	ev = mk_event(&e, DBLAT_STREAM_FE, m, 50, 20, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	ev = mk_event(&e, DBLAT_STREAM_FE, m + 50, 55, 55, 55, 0);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 1);
	if (k.n == 1) {
		CHECK_EQ_INT(k.g[0].m.body_len, 15);
		CHECK(k.g[0].m.truncated);
		CHECK(!memcmp(got_body(&k, 0), m + 5, 15));
	}
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_split_header_own_bytes_and_record)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct pstream s = { 0 };
	struct dblat_event *ev;

	m_begin(&s, 'Z');
	b_u8(&s.b, 'I');
	m_end(&s);
	m_begin(&s, 'C');
	b_str(&s.b, "SELECT 3");
	m_end(&s);
	pg_framer_init(&f, false);
	/* Z whole and 2 bytes of C's header in the first buffer */
	ev = mk_event(&e, DBLAT_STREAM_BE, s.b.p, 8, 8, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 1);
	ev = mk_event(&e, DBLAT_STREAM_BE, s.b.p + 8, (uint32_t)s.b.n - 8, (uint32_t)s.b.n - 8, 0, 0);
	mk_rec(ev, -2, 'C', 13, 0, "SELECT 3", 9);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	if (k.n == 2) {
		CHECK_EQ_INT(k.g[1].m.type, 'C');
		CHECK_EQ_INT(k.g[1].m.len, 9);
		CHECK_EQ_INT(k.g[1].m.body_len, 9);
		CHECK(!memcmp(got_body(&k, 1), "SELECT 3", 9));
	}
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(framer_split_header_record_only)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t z[6] = { 'Z', 0, 0, 0, 5, 'T' };

	pg_framer_init(&f, false);
	/* 3 header bytes past the copy of the first buffer */
	ev = mk_event(&e, DBLAT_STREAM_BE, z, 3, 0, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	ev = mk_event(&e, DBLAT_STREAM_BE, z + 3, 3, 0, 0, 0);
	mk_rec(ev, -3, 'Z', 5, 0, "T", 1);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 1);
	if (k.n == 1) {
		char st = 0;

		k.g[0].m.body = got_body(&k, 0);
		CHECK_EQ_INT(pg_parse_ready(&k.g[0].m, &st), 0);
		CHECK_EQ_INT(st, 'T');
	}
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_tail_rows_order)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t d[200];

	memset(d, 0, sizeof(d));
	/* a copied DataRow, then past the copy: 3 rows, C, 2 rows, Z */
	d[0] = 'D';
	put32_at(d + 1, 6);
	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_BE, d, 200, 7, 0, DBLAT_F_RESYNC);
	ev->tail_rows = 5;
	mk_rec(ev, 100, 'C', 13, 3, "SELECT 6", 9);
	mk_rec(ev, 194, 'Z', 5, 2, "I", 1);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 5);
	if (k.n == 5) {
		CHECK_EQ_INT(k.g[0].m.type, 'D');
		CHECK_EQ_INT(k.g[0].m.count, 1);
		CHECK_EQ_INT(k.g[0].m.len, 2);
		CHECK_EQ_INT(k.g[1].m.type, 'D');
		CHECK_EQ_INT(k.g[1].m.count, 3);
		CHECK_EQ_INT(k.g[2].m.type, 'C');
		CHECK_EQ_INT(k.g[3].m.type, 'D');
		CHECK_EQ_INT(k.g[3].m.count, 2);
		CHECK_EQ_INT(k.g[4].m.type, 'Z');
	}
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_overflow_takes_next_skip)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t z[6] = { 'Z', 0, 0, 0, 5, 'I' };
	int i;

	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_BE, NULL, 1000, 0, 0, DBLAT_F_RESYNC | DBLAT_F_TAIL_OVERFLOW);
	for (i = 0; i < DBLAT_TAIL_RECS; i++)
		mk_rec(ev, i * 5, '2', 4, 0, NULL, 0);
	ev->tail_other = 3;
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, DBLAT_TAIL_RECS);
	/* BPF says the next buffer begins 7 bytes into an unknown message */
	uint8_t nb[13] = { 0 };
	memcpy(nb + 7, z, 6);
	ev = mk_event(&e, DBLAT_STREAM_BE, nb, 13, 13, 7, 0);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, DBLAT_TAIL_RECS + 1);
	if (k.n == DBLAT_TAIL_RECS + 1)
		CHECK_EQ_INT(k.g[DBLAT_TAIL_RECS].m.type, 'Z');
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_disagreement_counts_resync)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t q[20] = { 'Q', 0, 0, 0, 19 };
	uint8_t z[6] = { 'S', 0, 0, 0, 4 };

	pg_framer_init(&f, true);
	ev = mk_event(&e, DBLAT_STREAM_FE, q, 10, 10, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	/* we owe 10 body bytes; BPF says 0 and a Sync starts here */
	ev = mk_event(&e, DBLAT_STREAM_FE, z, 5, 5, 0, 0);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(f.resyncs, 1);
	CHECK_EQ_INT(k.n, 1);
	if (k.n == 1)
		CHECK_EQ_INT(k.g[0].m.type, 'S');
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_bad_header_first_buffer)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t x[10] = { 'Q', 0, 0, 0, 2, 'x', 'y' };

	pg_framer_init(&f, true);
	ev = mk_event(&e, DBLAT_STREAM_FE, x, 10, 10, 0, DBLAT_F_RESYNC);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), -1);
	CHECK_EQ_INT(f.bad_headers, 1);
	CHECK_EQ_INT(k.n, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_bad_header_later_silences_until_resync)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t good[5] = { 'S', 0, 0, 0, 4 };
	uint8_t bad[10] = { 'S', 0, 0, 0, 4, '!', 0, 0, 0, 4 };
	uint8_t huge[10] = { 'S', 0, 0, 0, 4, 'Q', 0x7f, 0xff, 0xff, 0xff };

	pg_framer_init(&f, true);
	ev = mk_event(&e, DBLAT_STREAM_FE, good, 5, 5, 0, DBLAT_F_RESYNC);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	ev = mk_event(&e, DBLAT_STREAM_FE, bad, 10, 10, 0, 0);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(f.bad_headers, 1);
	CHECK_EQ_INT(k.n, 2);	/* the Sync before the bad header */
	ev = mk_event(&e, DBLAT_STREAM_FE, good, 5, 5, 0, 0);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	ev = mk_event(&e, DBLAT_STREAM_FE, good, 5, 5, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 3);
	/* length beyond 1 GiB */
	ev = mk_event(&e, DBLAT_STREAM_FE, huge, 10, 10, 0, 0);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(f.bad_headers, 2);
	CHECK_EQ_INT(k.n, 4);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_bpf_lost_flag)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t b[12] = { '1', 0, 0, 0, 4, '2', 0, 0, 0, 4, 'Z', 0 };

	pg_framer_init(&f, false);
	/* BPF lost sync past the 10 copied bytes */
	ev = mk_event(&e, DBLAT_STREAM_BE, b, 40, 10, 0, DBLAT_F_RESYNC | DBLAT_F_LOST);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(k.n, 2);
	ev = mk_event(&e, DBLAT_STREAM_BE, b, 10, 10, 0, 0);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	CHECK_EQ_INT(f.bad_headers, 1);
	ev = mk_event(&e, DBLAT_STREAM_BE, b, 10, 10, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 4);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_untyped_lengths_that_lie)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t b[8] = { 0, 0, 0, 7, 0x04, 0xd2, 0x16, 0x2f };
	uint8_t big[8] = { 0, 0, 0x27, 0x11, 0, 3, 0, 0 };

	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, b, 8, 8, 0, DBLAT_F_RESYNC | DBLAT_F_UNTYPED);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), -1);
	CHECK_EQ_INT(k.n, 0);
	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, big, 8, 8, 0, DBLAT_F_RESYNC | DBLAT_F_UNTYPED);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), -1);
	CHECK_EQ_INT(f.bad_headers, 1);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_ssl_answers)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	uint8_t n[7] = { 'N', 'Z', 0, 0, 0, 5, 'I' };

	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, req, 8, 8, 0, DBLAT_F_RESYNC | DBLAT_F_UNTYPED);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 1);
	CHECK(f.s[DBLAT_STREAM_BE].expect_answer);
	ev = mk_event(&e, DBLAT_STREAM_BE, n, 7, 7, 0, DBLAT_F_RESYNC | DBLAT_F_SSL_ANSWER);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 3);
	if (k.n == 3) {
		CHECK_EQ_INT(k.g[0].m.kind, PG_MSG_UNTYPED);
		CHECK_EQ_INT(k.g[1].m.kind, PG_MSG_SSL_ANSWER);
		CHECK_EQ_INT(k.g[1].m.type, 'N');
		CHECK_EQ_INT(k.g[2].m.type, 'Z');
	}
	CHECK(f.s[DBLAT_STREAM_FE].untyped);
	pg_framer_free(&f);
	sink_free(&k);

	memset(&k, 0, sizeof(k));
	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, req, 8, 8, 0, DBLAT_F_RESYNC | DBLAT_F_UNTYPED);
	feed_ev(&f, ev, &k);
	ev = mk_event(&e, DBLAT_STREAM_BE, "S", 1, 1, 0, DBLAT_F_RESYNC | DBLAT_F_SSL_ANSWER);
	feed_ev(&f, ev, &k);
	CHECK(f.s[0].tls && f.s[1].tls);
	ev = mk_event(&e, DBLAT_STREAM_FE, n + 1, 6, 6, 0, 0);
	feed_ev(&f, ev, &k);
	ev = mk_event(&e, DBLAT_STREAM_BE, NULL, 300, 0, 0, DBLAT_F_TLS);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	if (k.n == 2)
		CHECK_EQ_INT(k.g[1].m.type, 'S');
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_tls_flag)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;

	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, NULL, 517, 0, 0, DBLAT_F_TLS);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(k.n, 0);
	CHECK(f.s[DBLAT_STREAM_BE].tls);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_startup_then_typed_same_buffer)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct pstream s = { 0 };
	struct dblat_event *ev;
	struct pg_startup su;

	m_begin_untyped(&s);
	b_u32(&s.b, PG_STARTUP_V3);
	b_str(&s.b, "user");
	b_str(&s.b, "alice");
	b_str(&s.b, "database");
	b_str(&s.b, "shop");
	b_str(&s.b, "application_name");
	b_str(&s.b, "psql");
	b_u8(&s.b, 0);
	m_end(&s);
	m_begin(&s, 'Q');
	b_str(&s.b, "select now()");
	m_end(&s);
	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, s.b.p, (uint32_t)s.b.n, (uint32_t)s.b.n, 0,
		      DBLAT_F_RESYNC | DBLAT_F_UNTYPED);
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	if (k.n == 2) {
		CHECK_EQ_INT(k.g[0].m.kind, PG_MSG_UNTYPED);
		k.g[0].m.body = got_body(&k, 0);
		CHECK_EQ_INT(pg_parse_startup(&k.g[0].m, &su), 0);
		CHECK_EQ_INT(su.code, PG_STARTUP_V3);
		CHECK_PGSTR(su.user, "alice");
		CHECK_PGSTR(su.database, "shop");
		CHECK_PGSTR(su.application_name, "psql");
		CHECK_EQ_INT(k.g[1].m.kind, PG_MSG_TYPED);
		CHECK_EQ_INT(k.g[1].m.type, 'Q');
	}
	CHECK(!f.s[DBLAT_STREAM_FE].untyped);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(framer_body_max)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct bpf_sim sim;
	struct evbuf e;
	struct pstream s = { 0 };
	struct dblat_event *ev = (struct dblat_event *)e.words;
	size_t off = 0, i;
	struct pg_str sql;

	m_begin(&s, 'Q');
	for (i = 0; i < 3 * PG_BODY_MAX; i++)
		b_u8(&s.b, (uint8_t)('a' + i % 26));
	b_u8(&s.b, 0);
	m_end(&s);
	bpf_sim_init(&sim, 1);
	pg_framer_init(&f, true);
	while (off < s.b.n) {
		uint32_t n = s.b.n - off < 4096 ? (uint32_t)(s.b.n - off) : 4096;

		CHECK(bpf_sim_feed(&sim, DBLAT_STREAM_FE, s.b.p + off, n, 4096, off, (uint8_t *)e.words,
				   sizeof(e)) > 0);
		feed_ev(&f, ev, &k);
		off += n;
	}
	CHECK_EQ_INT(k.n, 1);
	if (k.n == 1) {
		CHECK_EQ_INT(k.g[0].m.len, 3 * PG_BODY_MAX + 1);
		CHECK_EQ_INT(k.g[0].m.body_len, PG_BODY_MAX);
		CHECK(k.g[0].m.truncated);
		k.g[0].m.body = got_body(&k, 0);
		CHECK_EQ_INT(pg_parse_query(&k.g[0].m, &sql), 0);
		CHECK_EQ_INT(sql.n, PG_BODY_MAX);
		CHECK(sql.truncated);
		CHECK(!memcmp(sql.p, s.b.p + 5, PG_BODY_MAX));
	}
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(framer_split_datarow_counted_by_bpf)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;
	uint8_t b[5 + 6 + 6];

	/* D(len 10: 6 body bytes), Z */
	b[0] = 'D';
	put32_at(b + 1, 10);
	memcpy(b + 5, "\0\1\0\0\0\0", 6);
	memcpy(b + 11, "Z\0\0\0\5I", 6);
	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_BE, b, 2, 2, 0, DBLAT_F_RESYNC);
	feed_ev(&f, ev, &k);
	/* BPF of this shape counts the split DataRow and records nothing */
	ev = mk_event(&e, DBLAT_STREAM_BE, b + 2, 15, 15, 0, 0);
	ev->tail_rows = 1;
	feed_ev(&f, ev, &k);
	CHECK_EQ_INT(k.n, 2);
	if (k.n == 2) {
		CHECK_EQ_INT(k.g[0].m.type, 'D');
		CHECK_EQ_INT(k.g[0].m.count, 1);
		CHECK_EQ_INT(k.g[0].m.body_len, 6);
		CHECK_EQ_INT(k.g[1].m.type, 'Z');
	}
	CHECK_EQ_INT(f.resyncs, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

TEST(framer_ignores_other_kinds_and_garbage)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct evbuf e;
	struct dblat_event *ev;

	pg_framer_init(&f, false);
	ev = mk_event(&e, DBLAT_STREAM_FE, NULL, 0, 0, 0, DBLAT_F_RESYNC);
	ev->kind = DBLAT_EV_CLOSE;
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	ev = mk_event(&e, 7, NULL, 10, 0, 0, DBLAT_F_RESYNC);
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	/* cap beyond total, skip beyond total, nrec beyond the maximum */
	ev = mk_event(&e, DBLAT_STREAM_BE, "Z\0\0\0\5I", 6, 6, 0, DBLAT_F_RESYNC);
	ev->cap_len = 4000;
	ev->skip_in = 9999;
	ev->nrec = 60000;
	CHECK_EQ_INT(feed_ev(&f, ev, &k), 0);
	CHECK_EQ_INT(k.n, 0);
	pg_framer_free(&f);
	sink_free(&k);
}

/* ---- parsers ---- */

TEST(parse_query)
{
	struct pg_str s;
	struct pg_msg m = MSG('Q', "select 1\0");
	struct pg_msg bad = MSG('Q', "select 1");
	struct pg_msg tr = msg_of('Q', "select 1", 8, 100);

	CHECK_EQ_INT(pg_parse_query(&m, &s), 0);
	CHECK_PGSTR(s, "select 1");
	CHECK(!s.truncated);
	CHECK_EQ_INT(pg_parse_query(&bad, &s), -1);
	CHECK_EQ_INT(pg_parse_query(&tr, &s), 0);
	CHECK_PGSTR(s, "select 1");
	CHECK(s.truncated);
	bad = msg_of('Q', "", 0, 0);
	CHECK_EQ_INT(pg_parse_query(&bad, &s), -1);
}

TEST(parse_parse_and_bind)
{
	struct pg_str a, b;
	struct pg_msg p = MSG('P', "s1\0select $1\0\0\1\0\0\0\x17");
	struct pg_msg bind = MSG('B', "\0s1\0\0\0\0\0\0\0");
	struct pg_msg tr = msg_of('P', "s1\0sel", 6, 40);
	struct pg_msg bad = MSG('P', "s1\0select");

	CHECK_EQ_INT(pg_parse_parse(&p, &a, &b), 0);
	CHECK_PGSTR(a, "s1");
	CHECK_PGSTR(b, "select $1");
	CHECK_EQ_INT(pg_parse_bind(&bind, &a, &b), 0);
	CHECK_PGSTR(a, "");
	CHECK_PGSTR(b, "s1");
	CHECK_EQ_INT(pg_parse_parse(&tr, &a, &b), 0);
	CHECK_PGSTR(b, "sel");
	CHECK(b.truncated);
	CHECK_EQ_INT(pg_parse_parse(&bad, &a, &b), -1);
	bad = MSG('B', "portal");
	CHECK_EQ_INT(pg_parse_bind(&bad, &a, &b), -1);
}

TEST(parse_execute)
{
	struct pg_str a;
	uint32_t rows = 99;
	struct pg_msg m = MSG('E', "p1\0\0\0\0\x0a");
	struct pg_msg bad = MSG('E', "p1\0\0\0");

	CHECK_EQ_INT(pg_parse_execute(&m, &a, &rows), 0);
	CHECK_PGSTR(a, "p1");
	CHECK_EQ_INT(rows, 10);
	CHECK_EQ_INT(pg_parse_execute(&bad, &a, &rows), -1);
	bad = MSG('E', "p1");
	CHECK_EQ_INT(pg_parse_execute(&bad, &a, &rows), -1);
}

TEST(parse_close_describe)
{
	struct pg_str a;
	char what = 0;
	struct pg_msg m = MSG('C', "Sstmt\0");
	struct pg_msg d = MSG('D', "P\0");
	struct pg_msg bad = MSG('D', "Xname\0");

	CHECK_EQ_INT(pg_parse_close_describe(&m, &what, &a), 0);
	CHECK_EQ_INT(what, 'S');
	CHECK_PGSTR(a, "stmt");
	CHECK_EQ_INT(pg_parse_close_describe(&d, &what, &a), 0);
	CHECK_EQ_INT(what, 'P');
	CHECK_PGSTR(a, "");
	CHECK_EQ_INT(pg_parse_close_describe(&bad, &what, &a), -1);
	bad = MSG('D', "Sname");
	CHECK_EQ_INT(pg_parse_close_describe(&bad, &what, &a), -1);
	bad = msg_of('D', "", 0, 0);
	CHECK_EQ_INT(pg_parse_close_describe(&bad, &what, &a), -1);
}

TEST(parse_startup)
{
	struct pg_startup su;
	static const char v3[] = "\0\3\0\0user\0bob\0options\0-c x\0database\0db1\0\0";
	static const char ssl[] = "\x04\xd2\x16\x2f";
	static const char cancel[] = "\x04\xd2\x16\x2e\0\0\0\1\0\0\0\2";
	struct pg_msg m = msg_of(0, v3, sizeof(v3) - 1, sizeof(v3) - 1);

	m.kind = PG_MSG_UNTYPED;
	CHECK_EQ_INT(pg_parse_startup(&m, &su), 0);
	CHECK_EQ_INT(su.code, PG_STARTUP_V3);
	CHECK_PGSTR(su.user, "bob");
	CHECK_PGSTR(su.database, "db1");
	CHECK_PGSTR(su.application_name, "");
	m = msg_of(0, ssl, 4, 4);
	CHECK_EQ_INT(pg_parse_startup(&m, &su), 0);
	CHECK_EQ_INT(su.code, PG_SSL_REQUEST);
	m = msg_of(0, cancel, 12, 12);
	CHECK_EQ_INT(pg_parse_startup(&m, &su), 0);
	CHECK_EQ_INT(su.code, PG_CANCEL_REQUEST);
	m = msg_of(0, v3, 3, 3);
	CHECK_EQ_INT(pg_parse_startup(&m, &su), -1);
	/* no terminating pair list byte */
	m = msg_of(0, v3, sizeof(v3) - 2, sizeof(v3) - 2);
	CHECK_EQ_INT(pg_parse_startup(&m, &su), -1);
	m = msg_of(0, v3, 11, sizeof(v3) - 1);
	CHECK_EQ_INT(pg_parse_startup(&m, &su), 0);
	CHECK_PGSTR(su.user, "bo");
	CHECK(su.user.truncated);
}

TEST(parse_command_complete)
{
	static const struct {
		const char *tag;
		uint64_t rows;
	} cases[] = {
		{ "SELECT 42", 42 }, { "INSERT 0 7", 7 }, { "UPDATE 3", 3 }, { "DELETE 0", 0 },
		{ "MERGE 5", 5 }, { "FETCH 100", 100 }, { "MOVE 2", 2 }, { "COPY 123456789012", 123456789012ull },
		{ "CREATE TABLE", 0 }, { "BEGIN", 0 }, { "SELECT", 0 }, { "SELECTED 4", 0 }, { "UPDATE x", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pg_msg m = msg_of('C', cases[i].tag, (uint32_t)strlen(cases[i].tag) + 1,
					 (uint32_t)strlen(cases[i].tag) + 1);
		struct pg_str tag;
		uint64_t rows = 77;

		CHECK_EQ_INT(pg_parse_command_complete(&m, &tag, &rows), 0);
		CHECK_PGSTR(tag, cases[i].tag);
		CHECK_EQ_INT(rows, cases[i].rows);
	}
	{
		struct pg_msg m = MSG('C', "SELECT 1");
		struct pg_str tag;
		uint64_t rows;

		CHECK_EQ_INT(pg_parse_command_complete(&m, &tag, &rows), -1);
	}
}

TEST(parse_error_notice)
{
	static const char e[] = "SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0";
	static const char loc[] = "SFEHLER\0C23505\0Mdoppelt\0\0";
	struct pg_error er;
	struct pg_msg m = msg_of('E', e, sizeof(e) - 1, sizeof(e) - 1);

	CHECK_EQ_INT(pg_parse_error(&m, &er), 0);
	CHECK_STR(er.sqlstate, "42P01");
	CHECK_STR(er.severity, "ERROR");
	CHECK_PGSTR(er.message, "relation \"x\" does not exist");
	m = msg_of('N', loc, sizeof(loc) - 1, sizeof(loc) - 1);
	CHECK_EQ_INT(pg_parse_error(&m, &er), 0);
	CHECK_STR(er.sqlstate, "23505");
	CHECK_STR(er.severity, "FEHLER");
	/* missing final terminator */
	m = msg_of('E', e, sizeof(e) - 2, sizeof(e) - 2);
	CHECK_EQ_INT(pg_parse_error(&m, &er), -1);
	/* an unterminated field */
	m = msg_of('E', e, 10, 10);
	CHECK_EQ_INT(pg_parse_error(&m, &er), -1);
	/* truncated body: what we have */
	m = msg_of('E', e, 30, 200);
	CHECK_EQ_INT(pg_parse_error(&m, &er), 0);
	CHECK_STR(er.sqlstate, "42P01");
	CHECK_PGSTR(er.message, "relation");
	CHECK(er.message.truncated);
	m = msg_of('E', "", 0, 0);
	CHECK_EQ_INT(pg_parse_error(&m, &er), -1);
}

TEST(parse_small_backend)
{
	char st = 0;
	uint32_t a = 0, b = 0;
	struct pg_str n, v;
	struct pg_msg m = MSG('Z', "E");

	CHECK_EQ_INT(pg_parse_ready(&m, &st), 0);
	CHECK_EQ_INT(st, 'E');
	m = MSG('Z', "Q");
	CHECK_EQ_INT(pg_parse_ready(&m, &st), -1);
	m = msg_of('Z', "", 0, 1);
	CHECK_EQ_INT(pg_parse_ready(&m, &st), -1);
	m = MSG('K', "\0\0\x30\x39\x12\x34\x56\x78");
	CHECK_EQ_INT(pg_parse_backend_key(&m, &a, &b), 0);
	CHECK_EQ_INT(a, 12345);
	CHECK_EQ_INT(b, 0x12345678);
	m = MSG('K', "\0\0\x30\x39\x12");
	CHECK_EQ_INT(pg_parse_backend_key(&m, &a, &b), -1);
	m = MSG('S', "TimeZone\0UTC\0");
	CHECK_EQ_INT(pg_parse_param_status(&m, &n, &v), 0);
	CHECK_PGSTR(n, "TimeZone");
	CHECK_PGSTR(v, "UTC");
	m = MSG('S', "TimeZone\0UTC");
	CHECK_EQ_INT(pg_parse_param_status(&m, &n, &v), -1);
	m = MSG('R', "\0\0\0\x0a" "SCRAM-SHA-256\0\0");
	CHECK_EQ_INT(pg_parse_auth(&m, &a), 0);
	CHECK_EQ_INT(a, 10);
	m = MSG('R', "\0\0");
	CHECK_EQ_INT(pg_parse_auth(&m, &a), -1);
}

TEST(type_names_and_tables)
{
	static const char fe[] = "BCDEFHPQSXcdfp";
	static const char be[] = "123ACDEGHIKNRSTVWZcdnstv";
	int c, nfe = 0, nbe = 0;

	for (c = 0; c < 256; c++) {
		if (pg_is_frontend_type((char)c)) {
			nfe++;
			CHECK(strchr(fe, c) != NULL);
			CHECK(strcmp(pg_type_name(DBLAT_STREAM_FE, (char)c), "Unknown") != 0);
		}
		if (pg_is_backend_type((char)c)) {
			nbe++;
			CHECK(strchr(be, c) != NULL);
			CHECK(strcmp(pg_type_name(DBLAT_STREAM_BE, (char)c), "Unknown") != 0);
		}
	}
	CHECK_EQ_INT(nfe, 14);
	CHECK_EQ_INT(nbe, 24);
	CHECK_STR(pg_type_name(DBLAT_STREAM_FE, 'Q'), "Query");
	CHECK_STR(pg_type_name(DBLAT_STREAM_FE, 'P'), "Parse");
	CHECK_STR(pg_type_name(DBLAT_STREAM_FE, 'B'), "Bind");
	CHECK_STR(pg_type_name(DBLAT_STREAM_FE, 'E'), "Execute");
	CHECK_STR(pg_type_name(DBLAT_STREAM_FE, 'S'), "Sync");
	CHECK_STR(pg_type_name(DBLAT_STREAM_BE, 'D'), "DataRow");
	CHECK_STR(pg_type_name(DBLAT_STREAM_BE, 'Z'), "ReadyForQuery");
	CHECK_STR(pg_type_name(DBLAT_STREAM_BE, 'C'), "CommandComplete");
	CHECK_STR(pg_type_name(DBLAT_STREAM_BE, 'E'), "ErrorResponse");
	CHECK_STR(pg_type_name(DBLAT_STREAM_BE, 'Q'), "Unknown");
}

/* ---- generated conversations through bpf_sim ---- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static uint32_t rnd_n(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static void rnd_bytes(struct buf *b, size_t n)
{
	while (n--)
		b_u8(b, (uint8_t)rnd());
}

static void rnd_text(struct buf *b, size_t n)
{
	while (n--)
		b_u8(b, (uint8_t)('a' + rnd_n(26)));
}

static size_t rnd_size(void)
{
	switch (rnd_n(10)) {
	case 0:
		return 16384 + rnd_n(30000);	/* larger than PG_BODY_MAX */
	case 1:
	case 2:
		return 200 + rnd_n(5000);
	default:
		return rnd_n(60);
	}
}

struct conv {
	struct pstream fe, be;
	bool ssl;
	bool startup;		/* the frontend begins in the startup phase */
};

static void q_sql(struct pstream *s, char type, const char *name)
{
	m_begin(s, type);
	if (name)
		b_str(&s->b, name);
	b_put(&s->b, "select ", 7);
	rnd_text(&s->b, rnd_size());
	b_u8(&s->b, 0);
}

static void be_simple(struct pstream *s, char type)
{
	m_begin(s, type);
	m_end(s);
}

static void be_rows(struct pstream *be, uint32_t rows)
{
	uint32_t i, c, ncol = 1 + rnd_n(4);
	char tag[32];

	m_begin(be, 'T');
	b_u16(&be->b, (uint16_t)ncol);
	for (c = 0; c < ncol; c++) {
		b_str(&be->b, "col");
		b_u32(&be->b, 16384);
		b_u16(&be->b, (uint16_t)c);
		b_u32(&be->b, 25);
		b_u16(&be->b, 0xffff);
		b_u32(&be->b, 0xffffffff);
		b_u16(&be->b, 0);
	}
	m_end(be);
	for (i = 0; i < rows; i++) {
		m_begin(be, 'D');
		b_u16(&be->b, (uint16_t)ncol);
		for (c = 0; c < ncol; c++) {
			if (!rnd_n(8)) {
				b_u32(&be->b, 0xffffffff);
			} else {
				size_t n = rnd_n(50) ? rnd_n(20) : rnd_size();

				b_u32(&be->b, (uint32_t)n);
				rnd_text(&be->b, n);
			}
		}
		m_end(be);
	}
	m_begin(be, 'C');
	snprintf(tag, sizeof(tag), "SELECT %u", rows);
	b_str(&be->b, tag);
	m_end(be);
}

static void be_ready(struct pstream *be, char st)
{
	m_begin(be, 'Z');
	b_u8(&be->b, (uint8_t)st);
	m_end(be);
}

static void be_error(struct pstream *be, char type)
{
	m_begin(be, type);
	b_u8(&be->b, 'S');
	b_str(&be->b, type == 'E' ? "ERROR" : "NOTICE");
	b_u8(&be->b, 'V');
	b_str(&be->b, type == 'E' ? "ERROR" : "NOTICE");
	b_u8(&be->b, 'C');
	b_str(&be->b, "42P01");
	b_u8(&be->b, 'M');
	rnd_text(&be->b, rnd_n(100));
	b_u8(&be->b, 0);
	b_u8(&be->b, 0);
	m_end(be);
}

static uint32_t rnd_rows(void)
{
	switch (rnd_n(6)) {
	case 0:
		return 500 + rnd_n(3000);
	case 1:
		return 0;
	default:
		return rnd_n(30);
	}
}

static void gen_conv(struct conv *cv, int start)
{
	int rounds = 1 + (int)rnd_n(8), r, i;

	memset(cv, 0, sizeof(*cv));
	if (start == 0) {
		cv->ssl = true;
		m_begin_untyped(&cv->fe);
		b_u32(&cv->fe.b, PG_SSL_REQUEST);
		m_end(&cv->fe);
		b_u8(&cv->be.b, 'N');
		add_truth(&cv->be, PG_MSG_SSL_ANSWER, 'N', 0, 1);
	}
	if (start <= 1) {
		cv->startup = true;
		m_begin_untyped(&cv->fe);
		b_u32(&cv->fe.b, PG_STARTUP_V3);
		b_str(&cv->fe.b, "user");
		b_str(&cv->fe.b, "app");
		b_str(&cv->fe.b, "database");
		b_str(&cv->fe.b, "shop");
		b_str(&cv->fe.b, "application_name");
		rnd_text(&cv->fe.b, 1 + rnd_n(30));
		b_u8(&cv->fe.b, 0);
		b_u8(&cv->fe.b, 0);
		m_end(&cv->fe);
		m_begin(&cv->be, 'R');
		b_u32(&cv->be.b, 10);
		b_str(&cv->be.b, "SCRAM-SHA-256");
		b_u8(&cv->be.b, 0);
		m_end(&cv->be);
		m_begin(&cv->fe, 'p');
		b_str(&cv->fe.b, "SCRAM-SHA-256");
		b_u32(&cv->fe.b, 32);
		rnd_bytes(&cv->fe.b, 32);
		m_end(&cv->fe);
		m_begin(&cv->be, 'R');
		b_u32(&cv->be.b, 11);
		rnd_bytes(&cv->be.b, 80);
		m_end(&cv->be);
		m_begin(&cv->fe, 'p');
		rnd_bytes(&cv->fe.b, 100);
		m_end(&cv->fe);
		m_begin(&cv->be, 'R');
		b_u32(&cv->be.b, 12);
		rnd_bytes(&cv->be.b, 50);
		m_end(&cv->be);
		m_begin(&cv->be, 'R');
		b_u32(&cv->be.b, 0);
		m_end(&cv->be);
		for (i = 0; i < 12; i++) {
			m_begin(&cv->be, 'S');
			b_str(&cv->be.b, "server_version");
			b_str(&cv->be.b, "17.2");
			m_end(&cv->be);
		}
		m_begin(&cv->be, 'K');
		b_u32(&cv->be.b, rnd());
		b_u32(&cv->be.b, rnd());
		m_end(&cv->be);
		be_ready(&cv->be, 'I');
	}
	for (r = 0; r < rounds; r++) {
		switch (rnd_n(6)) {
		case 0:	/* simple query */
			q_sql(&cv->fe, 'Q', NULL);
			m_end(&cv->fe);
			be_rows(&cv->be, rnd_rows());
			be_ready(&cv->be, 'I');
			break;
		case 1: {	/* extended pipeline */
			int n = 1 + (int)rnd_n(25);

			for (i = 0; i < n; i++) {
				q_sql(&cv->fe, 'P', "s1");
				b_u16(&cv->fe.b, 1);
				b_u32(&cv->fe.b, 23);
				m_end(&cv->fe);
				m_begin(&cv->fe, 'B');
				b_str(&cv->fe.b, "");
				b_str(&cv->fe.b, "s1");
				b_u16(&cv->fe.b, 0);
				b_u16(&cv->fe.b, 1);
				b_u32(&cv->fe.b, 4);
				rnd_text(&cv->fe.b, 4);
				b_u16(&cv->fe.b, 0);
				m_end(&cv->fe);
				m_begin(&cv->fe, 'D');
				b_u8(&cv->fe.b, 'P');
				b_str(&cv->fe.b, "");
				m_end(&cv->fe);
				m_begin(&cv->fe, 'E');
				b_str(&cv->fe.b, "");
				b_u32(&cv->fe.b, 0);
				m_end(&cv->fe);
				be_simple(&cv->be, '1');
				be_simple(&cv->be, '2');
				if (rnd_n(3)) {
					be_rows(&cv->be, rnd_rows());
				} else {
					be_simple(&cv->be, 'n');
					m_begin(&cv->be, 'C');
					b_str(&cv->be.b, "UPDATE 2");
					m_end(&cv->be);
				}
			}
			m_begin(&cv->fe, 'C');
			b_u8(&cv->fe.b, 'S');
			b_str(&cv->fe.b, "s1");
			m_end(&cv->fe);
			be_simple(&cv->be, '3');
			be_simple(&cv->fe, 'S');
			be_ready(&cv->be, 'T');
			break;
		}
		case 2: {	/* COPY FROM STDIN */
			int n = (int)rnd_n(20);

			q_sql(&cv->fe, 'Q', NULL);
			m_end(&cv->fe);
			m_begin(&cv->be, 'G');
			b_u8(&cv->be.b, 0);
			b_u16(&cv->be.b, 1);
			b_u16(&cv->be.b, 0);
			m_end(&cv->be);
			for (i = 0; i < n; i++) {
				m_begin(&cv->fe, 'd');
				rnd_bytes(&cv->fe.b, rnd_size());
				m_end(&cv->fe);
			}
			be_simple(&cv->fe, 'c');
			m_begin(&cv->be, 'C');
			b_str(&cv->be.b, "COPY 9");
			m_end(&cv->be);
			be_ready(&cv->be, 'I');
			break;
		}
		case 3:	/* error */
			q_sql(&cv->fe, 'Q', NULL);
			m_end(&cv->fe);
			be_error(&cv->be, 'N');
			be_error(&cv->be, 'E');
			be_ready(&cv->be, 'I');
			break;
		case 4: {	/* COPY TO STDOUT */
			int n = (int)rnd_n(40);

			q_sql(&cv->fe, 'Q', NULL);
			m_end(&cv->fe);
			m_begin(&cv->be, 'H');
			b_u8(&cv->be.b, 0);
			b_u16(&cv->be.b, 0);
			m_end(&cv->be);
			for (i = 0; i < n; i++) {
				m_begin(&cv->be, 'd');
				rnd_bytes(&cv->be.b, rnd_size());
				m_end(&cv->be);
			}
			be_simple(&cv->be, 'c');
			m_begin(&cv->be, 'C');
			b_str(&cv->be.b, "COPY 1");
			m_end(&cv->be);
			be_ready(&cv->be, 'I');
			break;
		}
		default:	/* empty query, flush, notifications */
			m_begin(&cv->fe, 'Q');
			b_u8(&cv->fe.b, 0);
			m_end(&cv->fe);
			be_simple(&cv->fe, 'H');
			be_simple(&cv->be, 'I');
			m_begin(&cv->be, 'A');
			b_u32(&cv->be.b, 1);
			b_str(&cv->be.b, "chan");
			b_str(&cv->be.b, "payload");
			m_end(&cv->be);
			be_ready(&cv->be, 'I');
			break;
		}
	}
	be_simple(&cv->fe, 'X');
}

/* How a stream is cut into buffers and how much of each is copied. */
enum cut_mode { CUT_BYTES, CUT_SMALL, CUT_HEADERS, CUT_BIG, CUT_MIXED, CUT_NR };

struct piece {
	uint32_t off, len, cap;
};

static const uint32_t caps[] = { 0, 5, 64, 512, 4096 };

static uint32_t pick_cap(int cap_mode)
{
	return cap_mode >= 0 ? caps[cap_mode] : caps[rnd_n(5)];
}

static struct piece *cut(const struct pstream *s, int mode, int cap_mode, size_t *np)
{
	struct piece *p = NULL;
	size_t n = 0, cp = 0, off = 0, ti = 0;

	while (off < s->b.n) {
		size_t len;

		switch (mode) {
		case CUT_BYTES:
			len = 1;
			break;
		case CUT_SMALL:
			len = 1 + rnd_n(40);
			break;
		case CUT_HEADERS: {
			/* end the buffer 1..4 bytes into some coming header */
			size_t h;

			while (ti < s->nt && s->t[ti].body < off + 6)
				ti++;
			if (ti >= s->nt) {
				len = s->b.n - off;
				break;
			}
			if (ti + 1 < s->nt && rnd_n(2))
				ti++;
			h = s->t[ti].body - (s->t[ti].kind == PG_MSG_UNTYPED ? 4 : 5);
			len = h + 1 + rnd_n(4) - off;
			if (!len || len > s->b.n - off)
				len = s->b.n - off;
			break;
		}
		case CUT_BIG:
			len = rnd_n(4) ? 4096 + rnd_n(65536) : s->b.n;
			break;
		default:
			switch (rnd_n(4)) {
			case 0:
				len = 1 + rnd_n(6);
				break;
			case 1:
				len = 8192;
				break;
			case 2:
				len = 1 + rnd_n(20000);
				break;
			default:
				len = 1 + rnd_n(300);
				break;
			}
			break;
		}
		if (len > s->b.n - off)
			len = s->b.n - off;
		if (n == cp) {
			cp = cp ? cp * 2 : 64;
			p = realloc(p, cp * sizeof(*p));
			if (!p)
				abort();
		}
		p[n].off = (uint32_t)off;
		p[n].len = (uint32_t)len;
		p[n].cap = pick_cap(cap_mode);
		n++;
		off += len;
	}
	*np = n;
	return p;
}

struct run_stats {
	uint64_t events, overflow, resyncs, bad;
};

/* Compare what the framer delivered on one stream with the truth. */
static void check_stream(const struct pstream *s, const struct sink *k, const struct piece *pc,
			 size_t npc, const uint64_t *ts, bool overflowed, int stream, bool exact)
{
	uint8_t *copied = calloc(s->b.n + 1, 1);
	size_t i, ti = 0, di = 0, pi = 0;
	uint64_t truth_rows = 0, got_rows = 0;
	int errs = 0, e0;

	if (!copied)
		abort();
	for (i = 0; i < npc; i++) {
		uint32_t c = pc[i].cap < pc[i].len ? pc[i].cap : pc[i].len;

		memset(copied + pc[i].off, 1, c);
	}
	for (i = 0; i < s->nt; i++)
		if (stream == DBLAT_STREAM_BE && s->t[i].type == 'D' && s->t[i].kind == PG_MSG_TYPED)
			truth_rows++;
	for (i = 0; i < k->n; i++)
		if (k->g[i].m.type == 'D' && stream == DBLAT_STREAM_BE)
			got_rows += k->g[i].m.count;
	if (exact || stream == DBLAT_STREAM_FE)
		CHECK_EQ_INT(got_rows, truth_rows);

#define FAIL_ONCE(cond) do { if (!(cond) && errs++ < 3) CHECK(cond); } while (0)
	while (ti < s->nt && errs < 3) {
		const struct truth *t = &s->t[ti];
		const struct pg_msg *m;
		size_t lb = 0, endb;

		if (stream == DBLAT_STREAM_BE && t->type == 'D' && t->kind == PG_MSG_TYPED && !overflowed &&
		    exact) {
			size_t tj = ti, used = 0;

			while (tj < s->nt && s->t[tj].type == 'D' && s->t[tj].kind == PG_MSG_TYPED)
				tj++;
			while (di < k->n && k->g[di].m.type == 'D' && used < tj - ti) {
				m = &k->g[di].m;
				/* counted rows come as len 0, truncated */
				if (m->count == 1 && !(m->len == 0 && m->truncated)) {
					const struct truth *r = &s->t[ti + used];

					FAIL_ONCE(m->len == r->len);
					FAIL_ONCE(!memcmp(got_body(k, di), s->b.p + r->body, m->body_len));
					while (lb < r->len && lb < PG_BODY_MAX && copied[r->body + lb])
						lb++;
					FAIL_ONCE(m->body_len >= lb);
					lb = 0;
				}
				used += m->count;
				di++;
			}
			FAIL_ONCE(used == tj - ti);
			ti = tj;
			continue;
		}
		if (stream == DBLAT_STREAM_BE && t->type == 'D' && t->kind == PG_MSG_TYPED) {
			ti++;
			continue;
		}
		while (di < k->n && stream == DBLAT_STREAM_BE && k->g[di].m.type == 'D' &&
		       k->g[di].m.kind == PG_MSG_TYPED)
			di++;
		if (t->kind == PG_MSG_SSL_ANSWER && pc[0].cap == 0 &&
		    (di >= k->n || k->g[di].m.kind != PG_MSG_SSL_ANSWER)) {
			ti++;
			continue;
		}
		if (di >= k->n) {
			FAIL_ONCE(di < k->n || !exact || overflowed);
			break;
		}
		m = &k->g[di].m;
		e0 = errs;
		if (!exact || overflowed) {
			/* some messages may be missing: find this one further on */
			if (m->kind != t->kind || m->type != t->type || m->len != t->len ||
			    memcmp(got_body(k, di), s->b.p + t->body, m->body_len)) {
				ti++;
				continue;
			}
		}
		FAIL_ONCE(m->kind == t->kind);
		FAIL_ONCE(m->type == t->type);
		FAIL_ONCE(m->len == t->len);
		FAIL_ONCE(m->count == 1);
		FAIL_ONCE(m->body_len <= m->len);
		FAIL_ONCE(m->truncated == (m->body_len < m->len));
		FAIL_ONCE(!memcmp(got_body(k, di), s->b.p + t->body, m->body_len));
		if (exact && !overflowed) {
			while (lb < t->len && lb < PG_BODY_MAX && copied[t->body + lb])
				lb++;
			FAIL_ONCE(m->body_len >= lb);
			/* stamped with the buffer holding the last byte */
			endb = t->kind == PG_MSG_SSL_ANSWER ? 0 : t->body + t->len - 1;
			if (t->len == 0 && t->kind != PG_MSG_SSL_ANSWER)
				endb = t->body - 1;
			while (pi + 1 < npc && pc[pi + 1].off <= endb)
				pi++;
			FAIL_ONCE(m->ts_ns == ts[pi]);
		}
		if (errs != e0)
			fprintf(stderr, "  stream %d truth #%zu type %c len %u, got #%zu type %c len %u body_len %u\n",
				stream, ti, t->type ? t->type : '0', t->len, di, m->type ? m->type : '0', m->len,
				m->body_len);
		ti++;
		di++;
	}
	if (exact && !overflowed && !errs) {
		while (di < k->n && stream == DBLAT_STREAM_BE && k->g[di].m.type == 'D')
			di++;
		CHECK_EQ_INT(di, k->n);
	}
	if (!exact || overflowed) {
		while (di < k->n && stream == DBLAT_STREAM_BE && k->g[di].m.type == 'D')
			di++;
		CHECK(di == k->n || errs);
	}
#undef FAIL_ONCE
	free(copied);
}

static bool trace;

static void trace_event(const struct dblat_event *ev, uint32_t off, const struct sink *k, size_t from,
			uint64_t resyncs)
{
	const struct dblat_tail_rec *r = bpf_sim_recs(ev);
	size_t i;

	fprintf(stderr, "R%llu ev %s @%u total %u cap %u skip %u flags %#x rows %u other %u:",
		(unsigned long long)resyncs, ev->stream ? "BE" : "FE", off, ev->total_len, ev->cap_len, ev->skip_in, ev->flags,
		ev->tail_rows, ev->tail_other);
	for (i = 0; i < ev->nrec; i++)
		fprintf(stderr, " [%d %c %u rb%u sn%u]", r[i].off, r[i].type ? r[i].type : '0', r[i].len,
			r[i].rows_before, r[i].snip_len);
	fprintf(stderr, "\n   ->");
	for (i = from; i < k->n; i++)
		fprintf(stderr, " %c/%u/%u*%u", k->g[i].m.type ? k->g[i].m.type : '0', k->g[i].m.len,
			k->g[i].m.body_len, k->g[i].m.count);
	fprintf(stderr, "\n");
}

/*
 * Cut both streams, run them through bpf_sim and the framer interleaved
 * (the backend's first buffer after the frontend's SSLRequest), check.
 */
static void run_conv(const struct conv *cv, int mode, int cap_mode, bool count_split, struct run_stats *st)
{
	struct bpf_sim sim;
	struct pg_framer f;
	struct sink k[2] = { { 0 }, { 0 } };
	struct piece *pc[2];
	size_t np[2], next[2] = { 0, 0 }, fe_bytes = 0;
	uint64_t *ts[2];
	bool overflowed[2] = { false, false };
	static struct evbuf e;
	struct dblat_event *ev = (struct dblat_event *)e.words;
	uint64_t clock = 1;
	const struct pstream *ps[2] = { &cv->fe, &cv->be };

	pc[0] = cut(&cv->fe, mode, cap_mode, &np[0]);
	pc[1] = cut(&cv->be, mode, cap_mode, &np[1]);
	ts[0] = calloc(np[0] + 1, sizeof(uint64_t));
	ts[1] = calloc(np[1] + 1, sizeof(uint64_t));
	bpf_sim_init(&sim, 42);
	sim.count_split_rows = count_split;
	sim.st[DBLAT_STREAM_FE].untyped = cv->startup;
	pg_framer_init(&f, false);
	while (next[0] < np[0] || next[1] < np[1]) {
		int sn;
		const struct piece *p;
		size_t sz;
		int rc;

		if (next[0] >= np[0])
			sn = 1;
		else if (next[1] >= np[1] || (cv->ssl && fe_bytes < 8))
			sn = 0;
		else
			sn = (int)rnd_n(2);
		p = &pc[sn][next[sn]];
		ts[sn][next[sn]] = clock;
		sz = bpf_sim_feed(&sim, sn, ps[sn]->b.p + p->off, p->len, p->cap, clock, (uint8_t *)e.words,
				  sizeof(e));
		CHECK(sz > 0);
		clock++;
		st->events++;
		if (ev->flags & DBLAT_F_TAIL_OVERFLOW) {
			overflowed[sn] = true;
			st->overflow++;
		}
		CHECK(!(ev->flags & DBLAT_F_LOST));
		{
			size_t before = k[sn].n;

			rc = feed_ev(&f, ev, &k[sn]);
			if (trace)
				trace_event(ev, p->off, &k[sn], before, f.resyncs * 1000 + f.bad_headers);
		}
		CHECK_EQ_INT(rc, 0);
		if (sn == 0)
			fe_bytes += p->len;
		next[sn]++;
	}
	CHECK_EQ_INT(f.bad_headers, 0);
	if (!count_split)
		CHECK_EQ_INT(f.resyncs, 0);
	st->resyncs += f.resyncs;
	st->bad += f.bad_headers;
	check_stream(&cv->fe, &k[0], pc[0], np[0], ts[0], overflowed[0], DBLAT_STREAM_FE, !count_split);
	check_stream(&cv->be, &k[1], pc[1], np[1], ts[1], overflowed[1], DBLAT_STREAM_BE, !count_split);
	pg_framer_free(&f);
	sink_free(&k[0]);
	sink_free(&k[1]);
	free(pc[0]);
	free(pc[1]);
	free(ts[0]);
	free(ts[1]);
}

static void run_many(uint64_t seed, int n, int mode, int cap_mode, bool count_split)
{
	struct run_stats st = { 0 };
	int i, before = test_failed_checks;

	rng_state = seed;
	trace = getenv("PGWIRE_TRACE") != NULL;
	for (i = 0; i < n && test_failed_checks == before; i++) {
		struct conv cv;
		int m = mode >= 0 ? mode : (int)rnd_n(CUT_NR);

		gen_conv(&cv, (int)rnd_n(3));
		if (m == CUT_BYTES && cv.fe.b.n + cv.be.b.n > 150000)
			m = CUT_SMALL;
		run_conv(&cv, m, cap_mode, count_split, &st);
		if (test_failed_checks != before)
			fprintf(stderr, "  conversation %d (seed %llu, cut %d, cap mode %d)\n", i,
				(unsigned long long)seed, m, cap_mode);
		ps_free(&cv.fe);
		ps_free(&cv.be);
	}
}

TEST(conv_one_byte_pieces)
{
	int c;

	for (c = 0; c < 5; c++)
		run_many(11 + c, 3, CUT_BYTES, c, false);
}

TEST(conv_small_pieces)
{
	int c;

	for (c = 0; c < 5; c++)
		run_many(101 + c, 12, CUT_SMALL, c, false);
}

TEST(conv_header_splitting_cuts)
{
	int c;

	for (c = 0; c < 5; c++)
		run_many(201 + c, 12, CUT_HEADERS, c, false);
}

TEST(conv_big_coalesced)
{
	int c;

	for (c = 0; c < 5; c++)
		run_many(301 + c, 12, CUT_BIG, c, false);
}

TEST(conv_mixed_random_caps)
{
	run_many(401, 60, -1, -1, false);
	run_many(402, 40, CUT_MIXED, -1, false);
}

TEST(conv_bpf_counting_split_datarows)
{
	/* BPF that counts split DataRows: no crash, nothing invented */
	run_many(501, 30, -1, -1, true);
}

/* Cut a conversation short, or corrupt one length: the framer must stay sane. */
TEST(conv_truncated_and_lying_lengths)
{
	int i;

	rng_state = 601;
	for (i = 0; i < 60; i++) {
		struct conv cv;
		struct bpf_sim sim;
		struct pg_framer f;
		struct sink k = { 0 };
		static struct evbuf e;
		struct dblat_event *ev = (struct dblat_event *)e.words;
		struct pstream *s;
		size_t off = 0, n, ti;
		int sn = (int)rnd_n(2);

		gen_conv(&cv, 2);
		s = sn ? &cv.be : &cv.fe;
		ti = rnd_n((uint32_t)s->nt);
		n = s->b.n;
		if (i % 2) {
			/* a length that lies: < 4 or > 1 GiB */
			uint8_t *l = s->b.p + s->t[ti].body - 4;

			put32_at(l, rnd_n(2) ? rnd_n(4) : 0x40000001u + rnd_n(1000));
		} else {
			n = s->t[ti].body - rnd_n(3);
		}
		bpf_sim_init(&sim, 1);
		pg_framer_init(&f, true);
		while (off < n) {
			uint32_t len = 1 + rnd_n(3000);

			if (len > n - off)
				len = (uint32_t)(n - off);
			bpf_sim_feed(&sim, sn, s->b.p + off, len, pick_cap(-1), off, (uint8_t *)e.words, sizeof(e));
			feed_ev(&f, ev, &k);
			off += len;
		}
		if (i % 2) {
			/* BPF may restart on bytes that look like a header and fail again */
			CHECK(f.bad_headers >= 1);
		} else {
			size_t j, real = 0;

			for (j = 0; j < k.n; j++)
				real += k.g[j].m.count;
			CHECK(real <= ti);
			CHECK_EQ_INT(f.bad_headers, 0);
		}
		pg_framer_free(&f);
		sink_free(&k);
		ps_free(&cv.fe);
		ps_free(&cv.be);
	}
}

/* ---- framer: plaintext of encrypted connections (DBLAT_F_PLAINTEXT) ---- */

struct plain_ev {
	struct dblat_event ev;
	uint8_t data[DBLAT_TLS_CHUNK];
};

static struct plain_ev plain_buf;

static void feed_plain(struct pg_framer *f, struct sink *k, int stream, const void *p, uint32_t n,
		       uint16_t flags)
{
	struct dblat_event *ev = &plain_buf.ev;

	memset(ev, 0, sizeof(*ev));
	ev->kind = DBLAT_EV_DATA;
	ev->stream = (uint8_t)stream;
	ev->total_len = ev->cap_len = n;
	ev->flags = DBLAT_F_PLAINTEXT | flags;
	if (n)
		memcpy(plain_buf.data, p, n);
	CHECK_EQ_INT(pg_framer_feed(f, ev, plain_buf.data, NULL, on_msg, k), 0);
}

/* One SSL call of n bytes: records of at most DBLAT_TLS_CHUNK, the first marked. */
static void feed_call(struct pg_framer *f, struct sink *k, int stream, const uint8_t *p, size_t n)
{
	size_t at = 0;

	do {
		size_t m = n - at < DBLAT_TLS_CHUNK ? n - at : DBLAT_TLS_CHUNK;

		feed_plain(f, k, stream, p + at, (uint32_t)m, at ? 0 : DBLAT_F_RESYNC);
		at += m;
	} while (at < n);
}

/* s in calls of random sizes up to max_call bytes, cut anywhere. */
static void feed_calls(struct pg_framer *f, struct sink *k, int stream, const struct pstream *s,
		       uint32_t max_call)
{
	size_t off = 0;

	while (off < s->b.n) {
		size_t n = 1 + rnd_n(max_call);

		if (n > s->b.n - off)
			n = s->b.n - off;
		feed_call(f, k, stream, s->b.p + off, n);
		off += n;
	}
}

/* Every message of s, whole, in order: plaintext leaves nothing to guess. */
static void check_plain(const struct pstream *s, const struct sink *k, size_t first)
{
	size_t i;

	CHECK_EQ_INT(k->n, s->nt - first);
	for (i = 0; i < k->n && first + i < s->nt; i++) {
		const struct truth *t = &s->t[first + i];
		const struct pg_msg *m = &k->g[i].m;
		uint32_t want = t->len < PG_BODY_MAX ? t->len : PG_BODY_MAX;

		if (m->kind != t->kind || m->type != t->type || m->len != t->len || m->body_len != want ||
		    m->count != 1 || m->truncated != (want < t->len) ||
		    memcmp(got_body(k, i), s->b.p + t->body, want)) {
			test_failed_checks++;
			fprintf(stderr, "  message %zu: got kind %d type %c len %u body %u, want kind %d type %c len %u\n",
				first + i, m->kind, m->type ? m->type : '0', m->len, m->body_len, t->kind,
				t->type ? t->type : '0', t->len);
			return;
		}
	}
}

TEST(plain_after_ciphertext_frames_whole_conversations)
{
	int i;

	rng_state = 7001;
	for (i = 0; i < 60; i++) {
		struct conv cv;
		struct pg_framer f;
		struct sink kf = { 0 }, kb = { 0 };
		struct evbuf e;
		uint32_t max_call = i % 3 == 0 ? 8 : i % 3 == 1 ? 300 : 70000;
		int before = test_failed_checks;

		gen_conv(&cv, 1 + (int)rnd_n(2));
		pg_framer_init(&f, false);
		/* The handshake went by encrypted: the framer only learnt that. */
		feed_ev(&f, mk_event(&e, DBLAT_STREAM_FE, "\x16\x03\x01\x01\x20", 293, 5, 0, DBLAT_F_TLS), &kf);
		feed_ev(&f, mk_event(&e, DBLAT_STREAM_BE, "\x16\x03\x03\x00\x58", 93, 5, 0, DBLAT_F_TLS), &kb);
		feed_calls(&f, &kf, DBLAT_STREAM_FE, &cv.fe, max_call);
		feed_calls(&f, &kb, DBLAT_STREAM_BE, &cv.be, max_call);
		check_plain(&cv.fe, &kf, 0);
		check_plain(&cv.be, &kb, 0);
		CHECK(f.s[0].plain && f.s[1].plain && f.s[0].tls && f.s[1].tls);
		CHECK_EQ_INT(f.bad_headers, 0);
		CHECK_EQ_INT(f.plain_dropped, 0);
		if (test_failed_checks != before)
			fprintf(stderr, "  conversation %d, calls up to %u bytes\n", i, max_call);
		pg_framer_free(&f);
		sink_free(&kf);
		sink_free(&kb);
		ps_free(&cv.fe);
		ps_free(&cv.be);
		if (test_failed_checks != before)
			break;
	}
}

TEST(plain_startup_then_typed_in_one_call)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct pstream s = { 0 };
	struct pg_startup su;

	m_begin_untyped(&s);
	b_u32(&s.b, PG_STARTUP_V3);
	b_str(&s.b, "user");
	b_str(&s.b, "app");
	b_u8(&s.b, 0);
	m_end(&s);
	m_begin(&s, 'Q');
	b_str(&s.b, "SELECT 1");
	m_end(&s);
	pg_framer_init(&f, false);
	feed_call(&f, &k, DBLAT_STREAM_FE, s.b.p, s.b.n);
	check_plain(&s, &k, 0);
	CHECK(!f.s[DBLAT_STREAM_FE].untyped);
	if (k.n == 2) {
		struct pg_msg m = k.g[0].m;

		m.body = got_body(&k, 0);
		CHECK_EQ_INT(pg_parse_startup(&m, &su), 0);
		CHECK_EQ_INT(su.code, PG_STARTUP_V3);
		CHECK_PGSTR(su.user, "app");
	}
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(plain_waits_for_a_call_that_starts_a_message)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct pstream s = { 0 };
	size_t first;

	m_begin(&s, 'Q');
	b_str(&s.b, "SELECT 'a long statement whose start we never saw'");
	m_end(&s);
	first = s.b.n;
	m_begin(&s, 'Q');
	b_str(&s.b, "SELECT 2");
	m_end(&s);
	pg_framer_init(&f, true);
	/* A call's later record, then a call that begins mid-message: nothing to frame on. */
	feed_plain(&f, &k, DBLAT_STREAM_FE, s.b.p + 10, 20, 0);
	feed_plain(&f, &k, DBLAT_STREAM_FE, s.b.p + 30, (uint32_t)(first - 30), DBLAT_F_RESYNC);
	CHECK_EQ_INT(k.n, 0);
	feed_call(&f, &k, DBLAT_STREAM_FE, s.b.p + first, s.b.n - first);
	check_plain(&s, &k, 1);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(plain_drops_calls_that_are_not_the_stream)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct pstream s = { 0 };
	static const char http[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	static const char post[] = "POST /v1/orders HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t half;

	m_begin(&s, 'Z');
	b_u8(&s.b, 'I');
	m_end(&s);
	half = s.b.n;
	be_rows(&s, 3);
	be_ready(&s, 'I');
	pg_framer_init(&f, true);
	feed_call(&f, &k, DBLAT_STREAM_BE, s.b.p, half);
	feed_call(&f, &k, DBLAT_STREAM_BE, (const uint8_t *)http, sizeof(http) - 1);
	feed_call(&f, &k, DBLAT_STREAM_BE, s.b.p + half, s.b.n - half);
	check_plain(&s, &k, 0);
	CHECK_EQ_INT(f.plain_dropped, 1);
	CHECK_EQ_INT(f.bad_headers, 0);
	sink_free(&k);
	memset(&k, 0, sizeof(k));
	feed_call(&f, &k, DBLAT_STREAM_FE, (const uint8_t *)post, sizeof(post) - 1);
	CHECK_EQ_INT(k.n, 0);
	CHECK_EQ_INT(f.plain_dropped, 1);	/* the frontend was never in step: nothing to drop */
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(plain_lost_bytes_resync_at_a_later_call)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct pstream s = { 0 };
	size_t a, b;

	be_rows(&s, 2);
	be_ready(&s, 'I');
	a = s.b.n;
	be_rows(&s, 40);
	be_ready(&s, 'I');
	b = s.b.n;
	be_rows(&s, 1);
	be_ready(&s, 'I');
	pg_framer_init(&f, true);
	feed_call(&f, &k, DBLAT_STREAM_BE, s.b.p, a);
	/* The next call's bytes could not be read: only the loss is reported. */
	feed_plain(&f, &k, DBLAT_STREAM_BE, NULL, 0, DBLAT_F_RESYNC | DBLAT_F_LOST);
	CHECK(!f.s[DBLAT_STREAM_BE].synced);
	/* Calls cut mid-message after it are skipped; one that starts a message resumes. */
	feed_call(&f, &k, DBLAT_STREAM_BE, s.b.p + a + 3, b - a - 3);
	feed_call(&f, &k, DBLAT_STREAM_BE, s.b.p + b, s.b.n - b);
	{
		size_t n1 = 0, i;

		for (i = 0; i < s.nt && s.t[i].body < a; i++)
			n1++;
		CHECK_EQ_INT(k.n, n1 + (s.nt - (n1 + 40 + 3)));
		if (k.n > n1)
			CHECK_EQ_INT(k.g[n1].m.type, 'T');
	}
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}

TEST(plain_large_messages_keep_their_length)
{
	struct pg_framer f;
	struct sink k = { 0 };
	struct pstream s = { 0 };
	size_t i;

	m_begin(&s, 'd');
	for (i = 0; i < 3 * PG_BODY_MAX + 17; i++)
		b_u8(&s.b, (uint8_t)i);
	m_end(&s);
	m_begin(&s, 'c');
	m_end(&s);
	m_begin(&s, 'Q');
	b_str(&s.b, "SELECT 1");
	m_end(&s);
	pg_framer_init(&f, true);
	/* One SSL_write of it all: several records. */
	feed_call(&f, &k, DBLAT_STREAM_FE, s.b.p, s.b.n);
	check_plain(&s, &k, 0);
	if (k.n)
		CHECK(k.g[0].m.truncated);
	pg_framer_free(&f);
	sink_free(&k);
	ps_free(&s);
}
