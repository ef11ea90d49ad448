// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the PostgreSQL framer and parsers.
 *
 * Input: one mode byte, then chunks. Normally each chunk is a control byte
 * (stream, cap choice), a 16-bit length and that many stream bytes, turned
 * into events by the BPF model. In raw mode each chunk is a whole event as
 * BPF might (mis)write it: header, data and records straight from the input.
 * Every delivered message goes through every parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../unit/bpf_sim.h"
#include "pgwire.h"

static volatile size_t sink;

static void touch(const struct pg_str *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		sink += (uint8_t)s->p[i];
}

static void on_msg(void *ctx, const struct pg_msg *m)
{
	struct pg_str a, b;
	struct pg_startup su;
	struct pg_error er;
	uint64_t rows;
	uint32_t u, v;
	char c;
	size_t i;

	(void)ctx;
	if (m->body_len > m->len && m->count == 1)
		abort();
	for (i = 0; i < m->body_len; i++)
		sink += m->body[i];
	sink += strlen(pg_type_name(m->stream, m->type));
	if (!pg_parse_query(m, &a))
		touch(&a);
	if (!pg_parse_parse(m, &a, &b)) {
		touch(&a);
		touch(&b);
	}
	if (!pg_parse_bind(m, &a, &b)) {
		touch(&a);
		touch(&b);
	}
	if (!pg_parse_execute(m, &a, &u))
		touch(&a);
	if (!pg_parse_close_describe(m, &c, &a))
		touch(&a);
	if (!pg_parse_startup(m, &su)) {
		touch(&su.user);
		touch(&su.database);
		touch(&su.application_name);
	}
	if (!pg_parse_command_complete(m, &a, &rows))
		touch(&a);
	if (!pg_parse_error(m, &er)) {
		touch(&er.message);
		sink += strlen(er.sqlstate) + strlen(er.severity);
	}
	if (!pg_parse_ready(m, &c))
		sink += (uint8_t)c;
	if (!pg_parse_backend_key(m, &u, &v))
		sink += u + v;
	if (!pg_parse_param_status(m, &a, &b)) {
		touch(&a);
		touch(&b);
	}
	if (!pg_parse_auth(m, &u))
		sink += u;
}

static const uint32_t caps[8] = { 0, 1, 5, 6, 64, 512, 4096, 100000 };

static uint64_t evbuf[(BPF_SIM_EVENT_MAX + 7) / 8];

static void run_sim(const uint8_t *p, size_t n, uint8_t mode)
{
	struct bpf_sim sim;
	struct pg_framer f;
	struct dblat_event *ev = (struct dblat_event *)evbuf;
	uint64_t ts = 0;

	bpf_sim_init(&sim, 1);
	sim.count_split_rows = mode & 2;
	sim.st[DBLAT_STREAM_FE].untyped = mode & 4;
	pg_framer_init(&f, false);
	while (n >= 3) {
		uint8_t ctl = p[0];
		uint32_t len = ((uint32_t)p[1] << 8 | p[2]) % 20000;

		p += 3;
		n -= 3;
		if (len > n || (ctl & 0x80))
			len = (uint32_t)n;
		if (!len)
			break;
		if (bpf_sim_feed(&sim, ctl & 1, p, len, caps[(ctl >> 1) & 7], ts++, (uint8_t *)evbuf,
				 sizeof(evbuf)))
			pg_framer_feed(&f, ev, bpf_sim_data(ev), bpf_sim_recs(ev), on_msg, NULL);
		p += len;
		n -= len;
	}
	pg_framer_free(&f);
}

static void run_raw(const uint8_t *p, size_t n)
{
	struct pg_framer f;
	struct dblat_event *ev = (struct dblat_event *)evbuf;

	pg_framer_init(&f, false);
	while (n >= sizeof(*ev)) {
		size_t cap, recs;

		memcpy(ev, p, sizeof(*ev));
		p += sizeof(*ev);
		n -= sizeof(*ev);
		ev->kind = DBLAT_EV_DATA;
		ev->stream &= 1;
		cap = ev->cap_len % (DBLAT_CAP_MAX + 1);
		if (cap > n)
			cap = n;
		ev->cap_len = (uint32_t)cap;
		memcpy(ev + 1, p, cap);
		p += cap;
		n -= cap;
		recs = ev->nrec % (DBLAT_TAIL_RECS + 1);
		if (recs > n / sizeof(struct dblat_tail_rec))
			recs = n / sizeof(struct dblat_tail_rec);
		ev->nrec = (uint16_t)recs;
		memcpy((uint8_t *)(ev + 1) + dblat_data_pad(ev->cap_len), p, recs * sizeof(struct dblat_tail_rec));
		p += recs * sizeof(struct dblat_tail_rec);
		n -= recs * sizeof(struct dblat_tail_rec);
		pg_framer_feed(&f, ev, bpf_sim_data(ev), bpf_sim_recs(ev), on_msg, NULL);
	}
	pg_framer_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		run_raw(data + 1, size - 1);
	else
		run_sim(data + 1, size - 1, data[0]);
	return 0;
}
