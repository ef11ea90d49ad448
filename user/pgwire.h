/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * PostgreSQL protocol v3 framing and message parsing.
 *
 * The framer turns dblat's per-syscall events (a copied prefix of each
 * buffer plus BPF's records of the messages past that prefix) back into a
 * message stream per direction, across split and coalesced buffers. The
 * parsers read single messages and never trust a length: every read is
 * bounded by the bytes actually present.
 */
#ifndef DBLAT_PGWIRE_H
#define DBLAT_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "dblat.h"

#define PG_BODY_MAX 16384	/* message body bytes the framer assembles at most */

enum pg_msg_kind {
	PG_MSG_TYPED = 0,	/* type byte + length + body */
	PG_MSG_UNTYPED,		/* startup phase: length + body (StartupMessage, SSLRequest, ...) */
	PG_MSG_SSL_ANSWER,	/* the single byte answering SSLRequest/GSSENCRequest */
};

struct pg_msg {
	enum pg_msg_kind kind;
	int stream;		/* DBLAT_STREAM_FE or DBLAT_STREAM_BE */
	char type;		/* type byte; for PG_MSG_SSL_ANSWER the answer ('S', 'N', 'G') */
	uint32_t len;		/* body length announced by the header (length field - 4) */
	const uint8_t *body;	/* the body bytes we have */
	uint32_t body_len;	/* <= len; less when the body was not captured whole */
	bool truncated;		/* body_len < len */
	uint32_t count;		/* 1, or how many DataRows this record stands for (BPF tail count) */
	uint64_t ts_ns;		/* timestamp of the buffer holding the message's last byte */
};

typedef void (*pg_msg_cb)(void *ctx, const struct pg_msg *m);

struct pg_stream {
	uint32_t need;		/* body bytes still to come for the current message */
	uint32_t body_have;	/* body bytes assembled */
	bool body_gap;		/* some body bytes were never captured */
	bool in_msg;		/* inside a message (header seen) */
	bool untyped;		/* frontend startup phase: messages carry no type byte */
	bool expect_answer;	/* backend: next byte answers SSLRequest/GSSENCRequest */
	bool synced;		/* we know where messages start */
	bool tls;		/* encrypted after an 'S' answer: nothing to frame */
	bool plain;		/* encrypted, and framed here from the TLS probes' plaintext */
	uint8_t hdr[8];		/* a header split across buffers */
	uint8_t hdr_have;
	char cur_type;
	uint32_t cur_len;
	uint8_t *body;		/* PG_BODY_MAX bytes, allocated on first use */
};

struct pg_framer {
	struct pg_stream s[2];
	uint64_t resyncs;	/* times our position disagreed with BPF's and was corrected */
	uint64_t bad_headers;	/* impossible headers met: the stream desynchronised */
	uint64_t plain_dropped;	/* plaintext calls that began with no message: not this connection's */
};

void pg_framer_init(struct pg_framer *f, bool client_startup_seen);
void pg_framer_free(struct pg_framer *f);
/* Bytes went by unseen (--sample): wait for a buffer BPF says starts a message. */
void pg_framer_lose(struct pg_framer *f);

/*
 * Feed one DBLAT_EV_DATA event. data holds ev->cap_len bytes, recs ev->nrec
 * records. Calls cb once per complete message, in stream order.
 * Returns 0, or -1 when the stream cannot be PostgreSQL (the caller may
 * stop tracing the connection).
 *
 * With DBLAT_F_PLAINTEXT the event holds every byte (cap_len == total_len,
 * no records): plaintext of an encrypted connection, framed here alone from
 * then on. DBLAT_F_RESYNC marks the first bytes of one SSL call: framing
 * starts (or restarts after a loss) only there, and a call that begins
 * between messages with no valid header is dropped as not this stream's.
 * DBLAT_F_LOST says bytes are missing after these. Never returns -1.
 */
int pg_framer_feed(struct pg_framer *f, const struct dblat_event *ev,
		   const uint8_t *data, const struct dblat_tail_rec *recs,
		   pg_msg_cb cb, void *ctx);

/*
 * Can plaintext of stream (DBLAT_STREAM_FE/BE) start a message at p[0]?
 * 1 yes, 0 no, -1 too few bytes to tell.
 */
int pg_plain_starts_message(int stream, const uint8_t *p, uint32_t n);

/* A byte range inside a message body. */
struct pg_str {
	const char *p;
	size_t n;
	bool truncated;		/* the string ran past the captured bytes */
};

/* Frontend messages. Each returns 0 on success, -1 when malformed. */
int pg_parse_query(const struct pg_msg *m, struct pg_str *sql);			/* 'Q' */
int pg_parse_parse(const struct pg_msg *m, struct pg_str *name, struct pg_str *sql);	/* 'P' */
int pg_parse_bind(const struct pg_msg *m, struct pg_str *portal, struct pg_str *stmt);	/* 'B' */
int pg_parse_execute(const struct pg_msg *m, struct pg_str *portal, uint32_t *max_rows);	/* 'E' */
int pg_parse_close_describe(const struct pg_msg *m, char *what, struct pg_str *name);	/* 'C', 'D' */

enum pg_startup_code {
	PG_STARTUP_V3 = 196608,
	PG_CANCEL_REQUEST = 80877102,
	PG_SSL_REQUEST = 80877103,
	PG_GSSENC_REQUEST = 80877104,
};

struct pg_startup {
	uint32_t code;
	struct pg_str user, database, application_name;
};
int pg_parse_startup(const struct pg_msg *m, struct pg_startup *out);	/* untyped */

/* Backend messages. */
int pg_parse_command_complete(const struct pg_msg *m, struct pg_str *tag, uint64_t *rows);	/* 'C' */
struct pg_error {
	char sqlstate[6];	/* five characters and NUL; "" when absent */
	char severity[10];
	struct pg_str message;
};
int pg_parse_error(const struct pg_msg *m, struct pg_error *out);		/* 'E', 'N' */
int pg_parse_ready(const struct pg_msg *m, char *status);			/* 'Z': 'I', 'T' or 'E' */
int pg_parse_backend_key(const struct pg_msg *m, uint32_t *pid, uint32_t *key);	/* 'K' */
int pg_parse_param_status(const struct pg_msg *m, struct pg_str *name, struct pg_str *value); /* 'S' */
int pg_parse_auth(const struct pg_msg *m, uint32_t *code);			/* 'R' */

/* Message-type tables used by the framer's sanity checks. */
bool pg_is_frontend_type(char t);
bool pg_is_backend_type(char t);
const char *pg_type_name(int stream, char t);

#endif
