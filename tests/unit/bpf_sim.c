// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>
#include "bpf_sim.h"
#include "pgwire.h"

#define SIM_MAX_MSG_LEN (1u << 30)
#define SIM_MAX_STARTUP_LEN 10000u

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool code_ok(uint32_t code)
{
	return code == DBLAT_STARTUP_V3 || code == DBLAT_SSL_REQUEST ||
	       code == DBLAT_GSSENC_REQUEST || code == DBLAT_CANCEL_REQUEST;
}

static bool type_ok(int stream, uint8_t t)
{
	return stream == DBLAT_STREAM_FE ? pg_is_frontend_type((char)t) : pg_is_backend_type((char)t);
}

void bpf_sim_init(struct bpf_sim *s, uint64_t conn_id)
{
	memset(s, 0, sizeof(*s));
	s->conn_id = conn_id;
}

struct sim_walk {
	struct bpf_sim *s;
	struct dblat_event *ev;
	struct dblat_tail_rec *recs;
	const uint8_t *buf;
	int stream;
	uint32_t total, cap, rows_since_rec;
};

static void add_rec(struct sim_walk *w, int64_t off, uint32_t len, uint8_t type, uint32_t hdr_len)
{
	struct dblat_tail_rec *r;
	int64_t body = off + hdr_len;
	uint32_t n = 0;

	if (w->stream == DBLAT_STREAM_BE && type == 'D' && (off >= 0 || w->s->count_split_rows)) {
		w->rows_since_rec++;
		w->ev->tail_rows++;
		return;
	}
	if (w->ev->nrec >= DBLAT_TAIL_RECS) {
		w->ev->tail_other++;
		w->ev->flags |= DBLAT_F_TAIL_OVERFLOW;
		return;
	}
	r = &w->recs[w->ev->nrec++];
	memset(r, 0, sizeof(*r));
	r->off = (int32_t)off;
	r->len = len;
	r->type = type;
	r->rows_before = w->rows_since_rec > 0xffff ? 0xffff : (uint16_t)w->rows_since_rec;
	w->rows_since_rec = 0;
	if (len > 4 && body < w->total) {
		n = len - 4;
		if (n > w->total - body)
			n = (uint32_t)(w->total - body);
		if (n > DBLAT_SNIP)
			n = DBLAT_SNIP;
		memcpy(r->snip, w->buf + body, n);
	}
	r->snip_len = (uint8_t)n;
}

/* Frame from offset off to the end of the buffer. */
static void walk(struct sim_walk *w, struct bpf_sim_stream *fr, uint32_t off)
{
	while (off < w->total) {
		uint32_t hl = fr->untyped ? 4 : 5, len;
		uint8_t hdr[8];
		int64_t hoff, end;

		if (fr->part_n) {
			uint32_t need = hl - fr->part_n;

			if (w->total < need) {
				memcpy(fr->part + fr->part_n, w->buf, w->total);
				fr->part_n += w->total;
				return;
			}
			memcpy(hdr, fr->part, fr->part_n);
			memcpy(hdr + fr->part_n, w->buf, need);
			hoff = -(int64_t)fr->part_n;
			fr->part_n = 0;
		} else {
			uint32_t have = w->total - off;

			if (have < hl) {
				memcpy(fr->part, w->buf + off, have);
				fr->part_n = (uint8_t)have;
				return;
			}
			memcpy(hdr, w->buf + off, hl);
			hoff = off;
		}
		if (fr->untyped) {
			uint32_t code = 0;

			len = rd32(hdr);
			if (len < 8 || len > SIM_MAX_STARTUP_LEN)
				goto lost;
			if (hoff + 8 <= w->total)
				code = rd32(w->buf + hoff + 4);
			if (hoff < 0 || hoff + 4 > w->cap)
				add_rec(w, hoff, len, 0, 4);
			if (code == DBLAT_STARTUP_V3 || (!code && len > 16))
				fr->untyped = false;
			else if (code == DBLAT_SSL_REQUEST || code == DBLAT_GSSENC_REQUEST || (!code && len == 8))
				w->s->be_expect_answer = true;
			end = hoff + len;
		} else {
			len = rd32(hdr + 1);
			if (len < 4 || len > SIM_MAX_MSG_LEN || !type_ok(w->stream, hdr[0]))
				goto lost;
			if (hoff < 0 || hoff + 5 > w->cap)
				add_rec(w, hoff, len, hdr[0], 5);
			end = hoff + 1 + (int64_t)len;
		}
		if (end >= w->total) {
			fr->skip = (uint32_t)(end - w->total);
			return;
		}
		off = (uint32_t)end;
	}
	return;
lost:
	fr->lost = true;
	fr->part_n = 0;
	fr->skip = 0;
	w->ev->flags |= DBLAT_F_LOST;
}

/* Can framing (re)start at byte 0 of this buffer? */
static bool starts_stream(int stream, const uint8_t *buf, uint32_t len, bool *untyped)
{
	uint32_t l;

	*untyped = false;
	if (stream == DBLAT_STREAM_FE && len >= 8) {
		l = rd32(buf);
		if (l >= 8 && l <= SIM_MAX_STARTUP_LEN && code_ok(rd32(buf + 4))) {
			*untyped = true;
			return true;
		}
	}
	if (len < 5)
		return false;
	l = rd32(buf + 1);
	return type_ok(stream, buf[0]) && l >= 4 && l <= SIM_MAX_MSG_LEN;
}

size_t bpf_sim_feed(struct bpf_sim *s, int stream, const uint8_t *buf, uint32_t len,
		    uint32_t cap, uint64_t ts, uint8_t *out, size_t outsz)
{
	struct dblat_tail_rec recs[DBLAT_TAIL_RECS];
	struct bpf_sim_stream *fr;
	struct dblat_event *ev = (struct dblat_event *)out;
	struct sim_walk w;
	uint32_t off;
	size_t size;

	stream &= 1;
	fr = &s->st[stream];
	if (outsz < sizeof(*ev))
		return 0;
	memset(ev, 0, sizeof(*ev));
	ev->kind = DBLAT_EV_DATA;
	ev->ts_ns = ts;
	ev->conn_id = s->conn_id;
	ev->stream = (uint8_t)stream;
	ev->dir = DBLAT_DIR_SEND;
	ev->role = DBLAT_ROLE_CLIENT;
	ev->total_len = len;
	memcpy(ev->comm, "sim", 4);

	if (s->tls) {
		/* The first bytes only: a TLS record header's content type. */
		ev->flags = DBLAT_F_TLS;
		if (buf && outsz >= sizeof(*ev) + 8) {
			ev->cap_len = len < 8 ? len : 8;
			memcpy(ev + 1, buf, ev->cap_len);
		}
		return sizeof(*ev) + dblat_data_pad(ev->cap_len);
	}
	if (cap > len)
		cap = len;
	if (cap > DBLAT_CAP_MAX)
		cap = DBLAT_CAP_MAX;
	ev->cap_len = cap;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.ev = ev;
	w.recs = recs;
	w.buf = buf;
	w.stream = stream;
	w.total = len;
	w.cap = cap;

	if (stream == DBLAT_STREAM_BE && s->be_expect_answer) {
		/* The 1-byte answer to SSLRequest/GSSENCRequest has no header. */
		s->be_expect_answer = false;
		ev->flags |= DBLAT_F_SSL_ANSWER;
		if (!fr->started)
			ev->flags |= DBLAT_F_RESYNC;
		fr->started = true;
		fr->lost = false;
		fr->skip = 0;
		fr->part_n = 0;
		if (buf[0] == 'S' || buf[0] == 'G') {
			s->tls = true;
			goto out;
		}
		if (buf[0] != 'N' || len == 1)
			goto out;
		walk(&w, fr, 1);
		goto out;
	}
	if (!fr->started) {
		/* adopted here: the frontend's phase is what the caller preset */
		fr->started = true;
		fr->skip = 0;
		fr->part_n = 0;
		ev->flags |= DBLAT_F_RESYNC;
	} else if (fr->lost) {
		bool ut;

		if (!starts_stream(stream, buf, len, &ut)) {
			ev->flags |= DBLAT_F_LOST;
			goto out;
		}
		if (stream == DBLAT_STREAM_FE)
			fr->untyped = ut;
		fr->started = true;
		fr->lost = false;
		fr->skip = 0;
		fr->part_n = 0;
		ev->flags |= DBLAT_F_RESYNC;
	}
	if (fr->untyped)
		ev->flags |= DBLAT_F_UNTYPED;
	ev->skip_in = fr->skip < len ? fr->skip : len;
	if (fr->skip >= len) {
		fr->skip -= len;
		goto out;
	}
	off = fr->skip;
	fr->skip = 0;
	walk(&w, fr, off);
out:
	size = sizeof(*ev) + dblat_data_pad(cap) + (size_t)ev->nrec * sizeof(struct dblat_tail_rec);
	if (size > outsz)
		return 0;
	memcpy(out + sizeof(*ev), buf, cap);
	memset(out + sizeof(*ev) + cap, 0, dblat_data_pad(cap) - cap);
	memcpy(out + sizeof(*ev) + dblat_data_pad(cap), recs, (size_t)ev->nrec * sizeof(recs[0]));
	return size;
}
