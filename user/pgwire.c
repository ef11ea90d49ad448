// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * PostgreSQL protocol v3 framing across dblat events, and message parsers.
 *
 * BPF frames every buffer whole and is authoritative for where messages
 * start; the framer walks the copied bytes itself, takes the messages past
 * the copy from BPF's records, assembles bodies that span buffers, and
 * cross-checks its own expectation at each buffer start against BPF's.
 */
#include <stdlib.h>
#include <string.h>
#include "pgwire.h"

#define MAX_MSG_LEN (1u << 30)
#define MAX_STARTUP_LEN 10000u

/* Values of pg_stream.hdr_have beyond real header byte counts. */
#define HDR_FRESH 0xff		/* no buffer of this stream has been framed yet */
#define HDR_UNKNOWN 0xfe	/* position at the buffer end unknown: trust BPF's */

static const char empty_str[1];

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

bool pg_is_frontend_type(char t)
{
	switch (t) {
	case 'B': case 'C': case 'D': case 'E': case 'F': case 'H': case 'P':
	case 'Q': case 'S': case 'X': case 'c': case 'd': case 'f': case 'p':
		return true;
	default:
		return false;
	}
}

bool pg_is_backend_type(char t)
{
	switch (t) {
	case '1': case '2': case '3': case 'A': case 'C': case 'D': case 'E':
	case 'G': case 'H': case 'I': case 'K': case 'N': case 'R': case 'S':
	case 'T': case 'V': case 'W': case 'Z': case 'c': case 'd': case 'n':
	case 's': case 't': case 'v':
		return true;
	default:
		return false;
	}
}

const char *pg_type_name(int stream, char t)
{
	if (stream == DBLAT_STREAM_FE) {
		switch (t) {
		case 0: return "StartupMessage";
		case 'B': return "Bind";
		case 'C': return "Close";
		case 'D': return "Describe";
		case 'E': return "Execute";
		case 'F': return "FunctionCall";
		case 'H': return "Flush";
		case 'P': return "Parse";
		case 'Q': return "Query";
		case 'S': return "Sync";
		case 'X': return "Terminate";
		case 'c': return "CopyDone";
		case 'd': return "CopyData";
		case 'f': return "CopyFail";
		case 'p': return "PasswordMessage";
		}
	} else if (stream == DBLAT_STREAM_BE) {
		switch (t) {
		case '1': return "ParseComplete";
		case '2': return "BindComplete";
		case '3': return "CloseComplete";
		case 'A': return "NotificationResponse";
		case 'C': return "CommandComplete";
		case 'D': return "DataRow";
		case 'E': return "ErrorResponse";
		case 'G': return "CopyInResponse";
		case 'H': return "CopyOutResponse";
		case 'I': return "EmptyQueryResponse";
		case 'K': return "BackendKeyData";
		case 'N': return "NoticeResponse";
		case 'R': return "Authentication";
		case 'S': return "ParameterStatus";
		case 'T': return "RowDescription";
		case 'V': return "FunctionCallResponse";
		case 'W': return "CopyBothResponse";
		case 'Z': return "ReadyForQuery";
		case 'c': return "CopyDone";
		case 'd': return "CopyData";
		case 'n': return "NoData";
		case 's': return "PortalSuspended";
		case 't': return "ParameterDescription";
		case 'v': return "NegotiateProtocolVersion";
		}
	}
	return "Unknown";
}

/* ---- framer ---- */

static void stream_clear(struct pg_stream *s)
{
	s->need = 0;
	s->body_have = 0;
	s->body_gap = false;
	s->in_msg = false;
	s->hdr_have = 0;
	s->cur_type = 0;
	s->cur_len = 0;
}

void pg_framer_init(struct pg_framer *f, bool client_startup_seen)
{
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < 2; i++)
		f->s[i].hdr_have = HDR_FRESH;
	f->s[DBLAT_STREAM_FE].untyped = !client_startup_seen;
}

void pg_framer_lose(struct pg_framer *f)
{
	int i;

	for (i = 0; i < 2; i++) {
		stream_clear(&f->s[i]);
		f->s[i].synced = false;
	}
}

void pg_framer_free(struct pg_framer *f)
{
	int i;

	for (i = 0; i < 2; i++) {
		free(f->s[i].body);
		f->s[i].body = NULL;
	}
}

/* One pg_framer_feed call. */
struct feed {
	struct pg_framer *f;
	struct pg_stream *s;
	const struct dblat_event *ev;
	const uint8_t *data;
	const struct dblat_tail_rec *recs;
	pg_msg_cb cb;
	void *ctx;
	uint32_t total, cap, nrec;
	int stream;
	int ret;
	bool fresh;		/* the first framed buffer of this stream */
	bool lost;		/* BPF gave up framing in this buffer */
	bool uncertain;		/* the start may be inside a DataRow BPF only counted */
	bool bad;		/* we met an impossible header */
};

static void deliver(struct feed *fd, enum pg_msg_kind kind, char type, uint32_t len,
		    const uint8_t *body, uint32_t body_len, uint32_t count)
{
	struct pg_msg m;

	if (body_len > len)
		body_len = len;
	m.kind = kind;
	m.stream = fd->stream;
	m.type = type;
	m.len = len;
	m.body = body_len ? body : (const uint8_t *)empty_str;
	m.body_len = body_len;
	m.truncated = body_len < len;
	m.count = count;
	m.ts_ns = fd->ev->ts_ns;
	fd->cb(fd->ctx, &m);
}

/* DataRows BPF only counted: one message standing for all of them. */
static void deliver_rows(struct feed *fd, uint32_t rows)
{
	struct pg_msg m;

	if (!rows)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = PG_MSG_TYPED;
	m.stream = fd->stream;
	m.type = 'D';
	m.body = (const uint8_t *)empty_str;
	m.truncated = true;
	m.count = rows;
	m.ts_ns = fd->ev->ts_ns;
	fd->cb(fd->ctx, &m);
}

static void bad_header(struct feed *fd)
{
	fd->f->bad_headers++;
	fd->bad = true;
	stream_clear(fd->s);
	fd->s->synced = false;
	if (fd->fresh)
		fd->ret = -1;
}

/* Append body bytes at body offset at (contiguous only). */
static void body_add(struct pg_stream *s, uint64_t at, const uint8_t *p, uint64_t n)
{
	uint64_t skip;

	if (s->body_gap || at > s->body_have)
		return;
	skip = s->body_have - at;
	if (n <= skip)
		return;
	p += skip;
	n -= skip;
	if (n > PG_BODY_MAX - s->body_have)
		n = PG_BODY_MAX - s->body_have;
	if (!n)
		return;
	if (!s->body) {
		s->body = malloc(PG_BODY_MAX);
		if (!s->body) {
			s->body_gap = true;
			return;
		}
	}
	memcpy(s->body + s->body_have, p, n);
	s->body_have += n;
}

static bool header_ok(struct feed *fd, char type, uint32_t len, bool untyped)
{
	if (untyped)
		return len >= 8 && len <= MAX_STARTUP_LEN;
	if (len < 4 || len > MAX_MSG_LEN)
		return false;
	return fd->stream == DBLAT_STREAM_FE ? pg_is_frontend_type(type) : pg_is_backend_type(type);
}

/*
 * A message whose header starts at off (negative: in an earlier buffer).
 * rec, when BPF recorded it, adds its snippet. Delivers it when it ends in
 * this buffer, else keeps it pending. Returns the offset of its end.
 */
static int64_t begin_msg(struct feed *fd, int64_t off, char type, uint32_t lenf, bool untyped,
			 const struct dblat_tail_rec *rec)
{
	struct pg_stream *s = fd->s;
	uint32_t blen = lenf - 4, n_copy = 0, n_snip = 0, best;
	int64_t bs = off + (untyped ? 4 : 5), end = bs + blen;
	const uint8_t *src;

	if (bs >= 0 && bs < fd->cap) {
		n_copy = fd->cap - (uint32_t)bs;
		if (n_copy > blen)
			n_copy = blen;
	}
	if (rec) {
		n_snip = rec->snip_len < DBLAT_SNIP ? rec->snip_len : DBLAT_SNIP;
		if (n_snip > blen)
			n_snip = blen;
		if (bs + n_snip > fd->total)
			n_snip = bs < fd->total ? (uint32_t)(fd->total - bs) : 0;
	}
	if (n_copy >= n_snip) {
		best = n_copy;
		src = best ? fd->data + bs : NULL;
	} else {
		best = n_snip;
		src = (const uint8_t *)rec->snip;
	}

	if (untyped) {
		/* Same rule as BPF: the request code when it is at hand, else the length. */
		uint32_t code = best >= 4 ? be32(src) : 0;

		if (code == DBLAT_STARTUP_V3 || (!code && lenf > 16))
			s->untyped = false;
		else if (code == DBLAT_SSL_REQUEST || code == DBLAT_GSSENC_REQUEST || (!code && lenf == 8))
			fd->f->s[DBLAT_STREAM_BE].expect_answer = true;
	}

	if (end <= fd->total) {
		if (fd->lost && end > fd->cap)
			return end;
		deliver(fd, untyped ? PG_MSG_UNTYPED : PG_MSG_TYPED, untyped ? 0 : type, blen,
			src, best, 1);
		return end;
	}
	s->in_msg = true;
	s->cur_type = untyped ? 0 : type;
	s->cur_len = blen;
	s->need = (uint32_t)(end - fd->total);
	s->body_have = 0;
	s->body_gap = false;
	if (best)
		body_add(s, 0, src, best);
	if (bs + best < fd->total)
		s->body_gap = true;
	return end;
}

/* Continue the pending message with the first take bytes of this buffer. */
static void continue_msg(struct feed *fd, uint32_t take)
{
	struct pg_stream *s = fd->s;
	uint32_t n = take < fd->cap ? take : fd->cap;

	if (!s->body_gap) {
		body_add(s, s->cur_len - s->need, fd->data, n);
		if (n < take)
			s->body_gap = true;
	}
	s->need -= take;
	if (s->need)
		return;
	s->in_msg = false;
	if (fd->lost && take > fd->cap)
		return;
	deliver(fd, s->cur_type ? PG_MSG_TYPED : PG_MSG_UNTYPED, s->cur_type, s->cur_len,
		s->body, s->body_have, 1);
}

/* Body length of the DataRow whose body starts at bs when it lies whole in the copy, else -1. */
static int64_t datarow_len(const struct feed *fd, int64_t bs)
{
	int64_t at = bs;
	uint32_t n, i, l;

	if (bs < 0 || at + 2 > fd->cap)
		return -1;
	n = ((uint32_t)fd->data[at] << 8) | fd->data[at + 1];
	at += 2;
	for (i = 0; i < n; i++) {
		if (at + 4 > fd->cap)
			return -1;
		l = be32(fd->data + at);
		at += 4;
		if (l == 0xffffffffu)
			continue;
		if (l > fd->cap - at)
			return -1;
		at += l;
	}
	return at - bs;
}

/*
 * Do the backend headers in the copy chain up from pos? 1 when something
 * confirms it (a second header, BPF's first record, the buffer's end),
 * 0 when nothing contradicts it, -1 when a header is impossible.
 */
static int chain_ok(const struct feed *fd, int64_t pos)
{
	int n = 0;

	while (pos + 5 <= fd->cap) {
		char t = (char)fd->data[pos];
		uint32_t len = be32(fd->data + pos + 1);

		if (!header_ok((struct feed *)fd, t, len, false))
			return -1;
		if (t == 'D' && pos + 1 + len <= fd->cap && datarow_len(fd, pos + 5) != len - 4)
			return -1;
		pos += 1 + (int64_t)len;
		n++;
	}
	if (pos < fd->total && fd->nrec && !fd->recs[0].rows_before)
		return fd->recs[0].off == pos ? 1 : -1;
	if (pos == fd->total || pos > fd->total || n > 1)
		return 1;
	return 0;
}

/*
 * Where framing resumes when this backend buffer may begin inside the
 * header of a DataRow that BPF counted without recording: 0 when it begins
 * with a message, the end of that DataRow when the copy shows it whole
 * (its length's low bytes, then a body that adds up to it), else -1.
 * Confirmed readings win over merely uncontradicted ones; a message start
 * wins ties.
 */
static int64_t find_start(struct feed *fd, uint32_t *row_len)
{
	int64_t ends[5];
	uint32_t lens[5], k, i;
	int ok[5], want;

	for (k = 0; k <= 4; k++) {
		uint32_t have = 5 - k, len;
		int64_t bl;

		ok[k] = -1;
		if (!k) {
			ok[0] = chain_ok(fd, 0);
			ends[0] = 0;
			continue;
		}
		bl = datarow_len(fd, have);
		if (bl < 0)
			continue;
		len = (uint32_t)bl + 4;
		for (i = 0; i < have; i++)
			if (fd->data[i] != (uint8_t)(len >> (8 * (have - 1 - i))))
				break;
		if (i < have)
			continue;
		ok[k] = chain_ok(fd, have + bl);
		ends[k] = have + bl;
		lens[k] = len;
	}
	for (want = 1; want >= 0; want--) {
		for (k = 0; k <= 4; k++) {
			if (ok[k] == want) {
				if (k)
					*row_len = lens[k];
				return ends[k];
			}
		}
	}
	return -1;
}

static bool rec_ok(struct feed *fd, const struct dblat_tail_rec *r, bool untyped)
{
	if (untyped ? r->type != 0 : !r->type)
		return false;
	return header_ok(fd, (char)r->type, r->len, untyped);
}

/* ---- plaintext of encrypted connections: every byte is here, no BPF positions ---- */

static bool startup_code(uint32_t code)
{
	return code == DBLAT_STARTUP_V3 || code == DBLAT_CANCEL_REQUEST ||
	       code == DBLAT_SSL_REQUEST || code == DBLAT_GSSENC_REQUEST;
}

/*
 * Can a message start at data[0]? 1 yes, 0 no, -1 too few bytes to say.
 * A typed header is confirmed by the next one when that lies here too.
 * *untyped: it is a startup-phase message (frontend only).
 */
static int plain_start_ok(struct feed *fd, const uint8_t *data, uint32_t n, bool *untyped)
{
	uint32_t len;

	*untyped = false;
	if (fd->stream == DBLAT_STREAM_FE && data[0] == 0) {
		*untyped = true;
		if (n < 8)
			return -1;
		len = be32(data);
		return len >= 8 && len <= MAX_STARTUP_LEN && startup_code(be32(data + 4));
	}
	if (n < 5)
		return -1;
	len = be32(data + 1);
	if (!header_ok(fd, (char)data[0], len, false))
		return 0;
	if ((uint64_t)len + 1 + 5 <= n && !header_ok(fd, (char)data[1 + len], be32(data + 2 + len), false))
		return 0;
	return 1;
}

int pg_plain_starts_message(int stream, const uint8_t *p, uint32_t n)
{
	struct feed fd = { .stream = stream };
	bool untyped;

	if (!p || !n || (stream != DBLAT_STREAM_FE && stream != DBLAT_STREAM_BE))
		return n ? 0 : -1;
	return plain_start_ok(&fd, p, n, &untyped);
}

/* The message in s is whole: hand it on; a StartupMessage ends the untyped phase. */
static void plain_deliver(struct feed *fd)
{
	struct pg_stream *s = fd->s;
	bool untyped = s->cur_type == 0;

	s->in_msg = false;
	deliver(fd, untyped ? PG_MSG_UNTYPED : PG_MSG_TYPED, s->cur_type, s->cur_len, s->body,
		s->body_have, 1);
	if (untyped && s->body_have >= 4 && be32(s->body) == DBLAT_STARTUP_V3)
		s->untyped = false;
}

static int plain_feed(struct pg_framer *f, const struct dblat_event *ev, const uint8_t *data,
		      pg_msg_cb cb, void *ctx)
{
	struct feed fd = { .f = f, .ev = ev, .data = data, .cb = cb, .ctx = ctx };
	struct pg_stream *s;
	uint32_t n, pos = 0;
	bool untyped, fresh = false;

	fd.stream = ev->stream;
	fd.s = s = &f->s[fd.stream];
	n = data ? (ev->cap_len < ev->total_len ? ev->cap_len : ev->total_len) : 0;
	fd.total = fd.cap = n;
	if (!s->plain) {
		/* Ciphertext until now: whatever the BPF-side framer held is void. */
		s->plain = s->tls = true;
		f->s[!fd.stream].tls = true;
		stream_clear(s);
		s->synced = false;
		fresh = true;
	}
	if ((ev->flags & DBLAT_F_RESYNC) && n && !s->in_msg && !s->hdr_have) {
		int ok = plain_start_ok(&fd, data, n, &untyped);

		if (!ok) {
			/* Between messages, and no message starts here: another stream's bytes. */
			if (s->synced)
				f->plain_dropped++;
			goto done;
		}
		/* The first plaintext follows the handshake: a message starts there. */
		if (ok > 0 || (fresh && !s->synced)) {
			s->synced = true;
			s->untyped = untyped;
		}
	}
	if (!s->synced)
		goto done;
	while (pos < n) {
		uint32_t hl, take, len;
		char t;

		if (s->in_msg) {
			take = s->need < n - pos ? s->need : n - pos;
			body_add(s, s->cur_len - s->need, data + pos, take);
			s->need -= take;
			pos += take;
			if (!s->need)
				plain_deliver(&fd);
			continue;
		}
		hl = fd.stream == DBLAT_STREAM_FE && s->untyped ? 4 : 5;
		take = hl - s->hdr_have < n - pos ? hl - s->hdr_have : n - pos;
		memcpy(s->hdr + s->hdr_have, data + pos, take);
		s->hdr_have += take;
		pos += take;
		if (s->hdr_have < hl)
			break;
		s->hdr_have = 0;
		t = hl == 4 ? 0 : (char)s->hdr[0];
		len = hl == 4 ? be32(s->hdr) : be32(s->hdr + 1);
		if (!header_ok(&fd, t, len, hl == 4)) {
			f->bad_headers++;
			stream_clear(s);
			s->synced = false;
			break;
		}
		s->cur_type = t;
		s->cur_len = len - 4;
		s->need = s->cur_len;
		s->body_have = 0;
		s->body_gap = false;
		s->in_msg = true;
		if (!s->need)
			plain_deliver(&fd);
	}
done:
	if (ev->flags & DBLAT_F_LOST) {
		/* The rest of the call is missing: resume where a later call starts a message. */
		stream_clear(s);
		s->synced = false;
	}
	return 0;
}

int pg_framer_feed(struct pg_framer *f, const struct dblat_event *ev,
		   const uint8_t *data, const struct dblat_tail_rec *recs,
		   pg_msg_cb cb, void *ctx)
{
	struct feed fd = { .f = f, .ev = ev, .data = data, .recs = recs, .cb = cb, .ctx = ctx };
	const struct dblat_tail_rec *neg = NULL;
	struct pg_stream *s;
	uint32_t skip, ri = 0, rows_left, discount = 0, own_n = 0;
	int64_t pos = 0;
	bool pos_known = true;
	uint8_t hdr[8];
	unsigned hl;

	if (!f || !ev || !cb || ev->kind != DBLAT_EV_DATA || ev->stream > DBLAT_STREAM_BE)
		return 0;
	if (ev->flags & DBLAT_F_PLAINTEXT)
		return plain_feed(f, ev, data, cb, ctx);
	fd.stream = ev->stream;
	fd.s = s = &f->s[fd.stream];
	fd.total = ev->total_len;
	fd.cap = data ? (ev->cap_len < fd.total ? ev->cap_len : fd.total) : 0;
	fd.nrec = recs ? (ev->nrec < DBLAT_TAIL_RECS ? ev->nrec : DBLAT_TAIL_RECS) : 0;

	if (ev->flags & DBLAT_F_TLS) {
		f->s[0].tls = f->s[1].tls = true;
		return 0;
	}
	if (s->tls)
		return 0;
	fd.fresh = s->hdr_have == HDR_FRESH;
	if (ev->flags & DBLAT_F_RESYNC) {
		if (s->synced && (s->in_msg || (s->hdr_have && s->hdr_have != HDR_UNKNOWN)))
			f->resyncs++;
		stream_clear(s);
		s->synced = true;
	} else if (!s->synced) {
		return 0;
	}
	if (fd.stream == DBLAT_STREAM_FE)
		s->untyped = ev->flags & DBLAT_F_UNTYPED;
	else
		s->untyped = false;
	fd.lost = ev->flags & DBLAT_F_LOST;
	if (fd.lost)
		fd.nrec = 0;
	hl = s->untyped ? 4 : 5;

	skip = ev->skip_in < fd.total ? ev->skip_in : fd.total;
	if (fd.nrec && recs[0].off < 0) {
		neg = &recs[0];
		ri = 1;
		if (skip || neg->off < -(int32_t)(hl - 1) || !rec_ok(&fd, neg, s->untyped)) {
			/* Impossible: a split header is at most hl - 1 bytes old. */
			f->resyncs++;
			neg = NULL;
		}
	}

	/* Our expectation against BPF's, which wins. */
	if (s->in_msg) {
		uint32_t exp = s->need < fd.total ? s->need : fd.total;

		if (skip != exp || neg) {
			f->resyncs++;
			stream_clear(s);
			s->hdr_have = HDR_UNKNOWN;
		}
	} else if (s->hdr_have && s->hdr_have <= 4) {
		uint32_t want = hl > s->hdr_have ? hl - s->hdr_have : 0;

		if (!want || skip) {
			f->resyncs++;
			s->hdr_have = HDR_UNKNOWN;
		} else if (fd.total < want) {
			/* Still not whole: BPF records nothing for it yet. */
			if (neg) {
				f->resyncs++;
			} else if (fd.cap < fd.total) {
				s->hdr_have = HDR_UNKNOWN;
				goto done;
			} else {
				memcpy(s->hdr + s->hdr_have, data, fd.total);
				s->hdr_have += fd.total;
				goto done;
			}
		} else if (fd.cap >= want) {
			own_n = s->hdr_have;
			memcpy(hdr, s->hdr, own_n);
			memcpy(hdr + own_n, data, want);
			if (neg) {
				uint32_t len = s->untyped ? be32(hdr) : be32(hdr + 1);

				/* The record describes the same header: use it. */
				if (neg->off != -(int32_t)own_n || neg->len != len ||
				    (!s->untyped && neg->type != hdr[0]))
					f->resyncs++;
				own_n = 0;
			} else if (fd.stream == DBLAT_STREAM_BE && hdr[0] == 'D' && ev->tail_rows &&
				   header_ok(&fd, 'D', be32(hdr + 1), false)) {
				/* A split DataRow that BPF counted instead of recording. */
				discount = 1;
			} else {
				f->resyncs++;
				own_n = 0;
				s->hdr_have = HDR_UNKNOWN;
			}
		} else if (!neg) {
			/* Only a counted split DataRow fits; its length lies past the copy. */
			if (fd.stream != DBLAT_STREAM_BE || !ev->tail_rows) {
				f->resyncs++;
				s->hdr_have = HDR_UNKNOWN;
			} else {
				pos_known = false;
			}
		}
	} else if (!s->hdr_have && (skip || neg)) {
		f->resyncs++;
	}
	/*
	 * From an unknown position, a buffer too short to hold a header may
	 * continue one begun earlier: BPF records a split header only once
	 * it is whole.
	 */
	if (s->hdr_have == HDR_UNKNOWN && !skip && !neg && fd.total < hl) {
		goto done;
	}
	if (s->hdr_have == HDR_UNKNOWN && !skip && !neg && fd.stream == DBLAT_STREAM_BE && ev->tail_rows)
		fd.uncertain = true;
	s->hdr_have = 0;

	if (s->in_msg) {
		continue_msg(&fd, skip);
		if (s->in_msg)
			goto done;
	} else if (skip) {
		/* The end of a message we do not know. */
		if (skip >= fd.total) {
			s->hdr_have = HDR_UNKNOWN;
			goto done;
		}
	}
	pos = skip;

	if (fd.stream == DBLAT_STREAM_BE && (ev->flags & DBLAT_F_SSL_ANSWER) && !skip && !neg && !own_n) {
		uint8_t b = fd.cap ? data[0] : (fd.total > 1 ? 'N' : 0);

		s->expect_answer = false;
		if (b == 'S' || b == 'G') {
			deliver(&fd, PG_MSG_SSL_ANSWER, (char)b, 0, NULL, 0, 1);
			f->s[0].tls = f->s[1].tls = true;
			goto done;
		}
		if (b == 'N') {
			deliver(&fd, PG_MSG_SSL_ANSWER, 'N', 0, NULL, 0, 1);
			pos = 1;
		} else if (!b) {
			/* The answer was not copied and nothing follows it. */
			goto done;
		}
	}

	if (own_n) {
		pos = begin_msg(&fd, -(int64_t)own_n, 'D', be32(hdr + 1), false, NULL);
	} else if (neg) {
		pos = begin_msg(&fd, neg->off, (char)neg->type, neg->len, s->untyped, neg);
	} else if (fd.uncertain) {
		uint32_t row_len = 0;
		int64_t at = find_start(&fd, &row_len);

		if (at > 0) {
			uint32_t have = (uint32_t)at - (row_len - 4);

			deliver(&fd, PG_MSG_TYPED, 'D', row_len - 4, data + have, row_len - 4, 1);
			discount = 1;
			pos = at;
		} else if (at < 0) {
			pos_known = false;
		}
	}

	rows_left = ev->tail_rows;
	while (pos < fd.total && !fd.bad) {
		const struct dblat_tail_rec *r;
		bool ut = fd.stream == DBLAT_STREAM_FE && s->untyped;

		hl = ut ? 4 : 5;
		if (pos_known && pos + hl <= fd.cap) {
			const uint8_t *h = data + pos;
			uint32_t len = ut ? be32(h) : be32(h + 1);
			char t = ut ? 0 : (char)h[0];

			if (!header_ok(&fd, t, len, ut)) {
				bad_header(&fd);
				break;
			}
			pos = begin_msg(&fd, pos, t, len, ut, NULL);
			continue;
		}
		if (fd.lost || ri >= fd.nrec)
			break;
		r = &recs[ri++];
		if (r->rows_before) {
			uint32_t n = r->rows_before < rows_left ? r->rows_before : rows_left;

			rows_left -= n;
			if (n > discount) {
				deliver_rows(&fd, n - discount);
				discount = 0;
			} else {
				discount -= n;
			}
		} else if (pos_known && r->off != pos) {
			f->resyncs++;
		}
		if (r->off < pos || r->off >= (int64_t)fd.total) {
			f->resyncs++;
			continue;
		}
		if (!rec_ok(&fd, r, ut)) {
			bad_header(&fd);
			break;
		}
		pos_known = true;
		pos = begin_msg(&fd, r->off, (char)r->type, r->len, ut, r);
	}
	if (fd.bad || fd.lost)
		goto done;

	if (rows_left > discount) {
		deliver_rows(&fd, rows_left - discount);
		pos_known = false;
	}
	if (ev->flags & DBLAT_F_TAIL_OVERFLOW)
		pos_known = false;
	if (s->in_msg)
		goto done;
	if (!pos_known) {
		s->hdr_have = HDR_UNKNOWN;
	} else if (pos < fd.total) {
		uint32_t left = fd.total - (uint32_t)pos;

		hl = fd.stream == DBLAT_STREAM_FE && s->untyped ? 4 : 5;
		if (left < hl && fd.total <= fd.cap) {
			memcpy(s->hdr, data + pos, left);
			s->hdr_have = left;
		} else {
			s->hdr_have = HDR_UNKNOWN;
		}
	}
done:
	if (fd.lost && !fd.bad) {
		/* BPF met an impossible header past what we framed */
		f->bad_headers++;
		stream_clear(s);
		s->synced = false;
	}
	return fd.ret;
}

/* ---- parsers ---- */

static void str_empty(struct pg_str *s)
{
	s->p = empty_str;
	s->n = 0;
	s->truncated = false;
}

/*
 * A NUL-terminated string at *at. A string cut off by the end of a
 * truncated body is returned whole-as-far-as-we-have, marked truncated.
 */
static int get_cstr(const struct pg_msg *m, uint32_t *at, struct pg_str *out)
{
	const uint8_t *p, *z;
	uint32_t left;

	if (!m || *at > m->body_len)
		return -1;
	left = m->body_len - *at;
	p = m->body + *at;
	z = left ? memchr(p, 0, left) : NULL;
	if (z) {
		out->p = (const char *)p;
		out->n = (size_t)(z - p);
		out->truncated = false;
		*at += (uint32_t)(z - p) + 1;
		return 0;
	}
	if (!m->truncated)
		return -1;
	out->p = left ? (const char *)p : empty_str;
	out->n = left;
	out->truncated = true;
	*at = m->body_len;
	return 0;
}

static bool ran_out(const struct pg_msg *m, uint32_t at)
{
	return at >= m->body_len && m->truncated;
}

static int get_u32(const struct pg_msg *m, uint32_t *at, uint32_t *v)
{
	if (m->body_len < 4 || *at > m->body_len - 4)
		return -1;
	*v = be32(m->body + *at);
	*at += 4;
	return 0;
}

static int two_strs(const struct pg_msg *m, struct pg_str *a, struct pg_str *b)
{
	uint32_t at = 0;

	if (!m || !a || !b)
		return -1;
	if (get_cstr(m, &at, a))
		return -1;
	if (a->truncated || ran_out(m, at)) {
		str_empty(b);
		b->truncated = true;
		return 0;
	}
	return get_cstr(m, &at, b);
}

int pg_parse_query(const struct pg_msg *m, struct pg_str *sql)
{
	uint32_t at = 0;

	if (!m || !sql)
		return -1;
	return get_cstr(m, &at, sql);
}

int pg_parse_parse(const struct pg_msg *m, struct pg_str *name, struct pg_str *sql)
{
	return two_strs(m, name, sql);
}

int pg_parse_bind(const struct pg_msg *m, struct pg_str *portal, struct pg_str *stmt)
{
	return two_strs(m, portal, stmt);
}

int pg_parse_param_status(const struct pg_msg *m, struct pg_str *name, struct pg_str *value)
{
	return two_strs(m, name, value);
}

int pg_parse_execute(const struct pg_msg *m, struct pg_str *portal, uint32_t *max_rows)
{
	uint32_t at = 0;

	if (!m || !portal || !max_rows)
		return -1;
	if (get_cstr(m, &at, portal) || portal->truncated)
		return -1;
	return get_u32(m, &at, max_rows);
}

int pg_parse_close_describe(const struct pg_msg *m, char *what, struct pg_str *name)
{
	uint32_t at = 1;

	if (!m || !what || !name || m->body_len < 1)
		return -1;
	if (m->body[0] != 'S' && m->body[0] != 'P')
		return -1;
	*what = (char)m->body[0];
	if (ran_out(m, at)) {
		str_empty(name);
		name->truncated = true;
		return 0;
	}
	return get_cstr(m, &at, name);
}

static bool str_is(const struct pg_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return !s->truncated && s->n == n && !memcmp(s->p, lit, n);
}

int pg_parse_startup(const struct pg_msg *m, struct pg_startup *out)
{
	uint32_t at = 0;

	if (!m || !out)
		return -1;
	str_empty(&out->user);
	str_empty(&out->database);
	str_empty(&out->application_name);
	if (get_u32(m, &at, &out->code))
		return -1;
	if (out->code != PG_STARTUP_V3)
		return 0;
	for (;;) {
		struct pg_str k, v;

		if (ran_out(m, at))
			return 0;
		if (at >= m->body_len)
			return -1;
		if (m->body[at] == 0)
			return 0;
		if (get_cstr(m, &at, &k))
			return -1;
		if (k.truncated || ran_out(m, at))
			return 0;
		if (get_cstr(m, &at, &v))
			return -1;
		if (str_is(&k, "user"))
			out->user = v;
		else if (str_is(&k, "database"))
			out->database = v;
		else if (str_is(&k, "application_name"))
			out->application_name = v;
		if (v.truncated)
			return 0;
	}
}

static bool is_digits(const char *p, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

int pg_parse_command_complete(const struct pg_msg *m, struct pg_str *tag, uint64_t *rows)
{
	static const char *const counted[] = {
		"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "FETCH", "MOVE", "COPY",
	};
	uint32_t at = 0;
	size_t i, w, last;

	if (!m || !tag || !rows)
		return -1;
	if (get_cstr(m, &at, tag))
		return -1;
	*rows = 0;
	if (tag->truncated)
		return 0;
	for (w = 0; w < tag->n && tag->p[w] != ' '; w++)
		;
	for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
		if (strlen(counted[i]) == w && !memcmp(tag->p, counted[i], w))
			break;
	if (i == sizeof(counted) / sizeof(counted[0]) || w == tag->n)
		return 0;
	for (last = tag->n; last > w && tag->p[last - 1] != ' '; last--)
		;
	if (!is_digits(tag->p + last, tag->n - last))
		return 0;
	for (i = last; i < tag->n; i++) {
		uint64_t d = (uint64_t)(tag->p[i] - '0');

		if (*rows > (UINT64_MAX - d) / 10) {
			*rows = UINT64_MAX;
			break;
		}
		*rows = *rows * 10 + d;
	}
	return 0;
}

static void copy_field(char *dst, size_t size, const struct pg_str *s)
{
	size_t n = s->n < size - 1 ? s->n : size - 1;

	memcpy(dst, s->p, n);
	dst[n] = 0;
}

int pg_parse_error(const struct pg_msg *m, struct pg_error *out)
{
	uint32_t at = 0;
	bool have_v = false;

	if (!m || !out)
		return -1;
	out->sqlstate[0] = 0;
	out->severity[0] = 0;
	str_empty(&out->message);
	for (;;) {
		struct pg_str v;
		char code;

		if (ran_out(m, at))
			return 0;
		if (at >= m->body_len)
			return -1;
		code = (char)m->body[at++];
		if (!code)
			return 0;
		if (ran_out(m, at))
			return 0;
		if (get_cstr(m, &at, &v))
			return -1;
		switch (code) {
		case 'C':
			copy_field(out->sqlstate, sizeof(out->sqlstate), &v);
			break;
		case 'V':	/* never localized: preferred over 'S' */
			copy_field(out->severity, sizeof(out->severity), &v);
			have_v = true;
			break;
		case 'S':
			if (!have_v)
				copy_field(out->severity, sizeof(out->severity), &v);
			break;
		case 'M':
			out->message = v;
			break;
		}
	}
}

int pg_parse_ready(const struct pg_msg *m, char *status)
{
	if (!m || !status || m->body_len < 1)
		return -1;
	if (m->body[0] != 'I' && m->body[0] != 'T' && m->body[0] != 'E')
		return -1;
	*status = (char)m->body[0];
	return 0;
}

int pg_parse_backend_key(const struct pg_msg *m, uint32_t *pid, uint32_t *key)
{
	uint32_t at = 0;

	if (!m || !pid || !key)
		return -1;
	if (get_u32(m, &at, pid) || get_u32(m, &at, key))
		return -1;
	return 0;
}

int pg_parse_auth(const struct pg_msg *m, uint32_t *code)
{
	uint32_t at = 0;

	if (!m || !code)
		return -1;
	return get_u32(m, &at, code);
}
