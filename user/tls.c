// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Plaintext of encrypted connections, bound to the connection it belongs to.
 *
 * The TLS probes report what each SSL_read/SSL_write call moved, with the
 * thread, the SSL object and the call's entry and return times, but not the
 * socket. The thread's ciphertext syscalls on encrypted PostgreSQL
 * connections come through the same ring buffer in the thread's own order,
 * and name the connection:
 *
 *  - a socket BIO (libpq, the backends) does its recv/send inside the call:
 *    a ciphertext event of the thread between the call's entry and its
 *    return is the call's connection, for certain;
 *  - a memory BIO (Python's asyncio) never touches the socket inside the
 *    call: the loop reads the socket just before SSL_read, and writes the
 *    ciphertext out just after SSL_write. A read goes to the connection the
 *    thread last read ciphertext from, if no other SSL object read since; a
 *    write waits for the thread's next ciphertext send. Bindings inferred
 *    from order alone are taken only when the bytes start a message of that
 *    connection's stream (an HTTPS client on the same loop lends none);
 *  - whatever named an SSL object's connection once names it from then on
 *    (an SSL object belongs to one connection for its whole life), which
 *    also covers reads served from OpenSSL's buffer with no syscall at all,
 *    and every later call on an event loop with many connections.
 *
 * Bound plaintext goes to the connection's framer as DBLAT_F_PLAINTEXT data
 * events: the same message tracking as unencrypted traffic follows. What a
 * process writes is stamped when SSL_write was entered, what it reads when
 * SSL_read returned.
 */
#include <stdlib.h>
#include <string.h>
#include "conn.h"
#include "tls.h"

#define TLS_HASH 1024
#define PEND_MAX 64			/* plaintext writes a thread may hold for their send */
#define PEND_BYTES (4u << 20)

/* A plaintext write waiting for the ciphertext send that names its connection. */
struct pend {
	struct dblat_event ev;
	struct dblat_tls_data td;
	uint8_t *data;
};

struct tls_thread {
	uint32_t tid, tgid;
	uint64_t recv_conn, recv_ts;	/* the last ciphertext read on an encrypted connection */
	uint64_t recv_ssl;		/* the SSL object whose read used it (0: none yet) */
	uint64_t send_conn, send_ts;	/* the last ciphertext send */
	/* the call whose records are arriving */
	uint64_t call_ns, call_ssl, call_conn;
	uint32_t call_next;		/* offset expected next */
	uint8_t call_dir;
	bool call_pending;
	struct pend *pend;
	uint32_t npend, cap_pend;
	size_t pend_bytes;
	struct tls_thread *next;
};

struct tls_ssl {
	uint32_t tgid;
	uint64_t ssl, conn;
	struct tls_ssl *next;
};

struct tls_state {
	struct tls_thread *threads[TLS_HASH];
	struct tls_ssl *ssls[TLS_HASH];
	uint32_t fp_timing;
	bool have_fp;
};

static uint32_t h64(uint64_t x)
{
	return (uint32_t)((x * 0x9e3779b97f4a7c15ull) >> 40) & (TLS_HASH - 1);
}

static struct tls_state *state(struct collector *c)
{
	if (!c->tls)
		c->tls = calloc(1, sizeof(struct tls_state));
	return c->tls;
}

static void pend_clear(struct tls_thread *t)
{
	uint32_t i;

	for (i = 0; i < t->npend; i++)
		free(t->pend[i].data);
	t->npend = 0;
	t->pend_bytes = 0;
}

static void thread_free(struct tls_thread *t)
{
	pend_clear(t);
	free(t->pend);
	free(t);
}

static struct tls_thread *thread_get(struct tls_state *s, uint32_t tid, uint32_t tgid)
{
	struct tls_thread **pp = &s->threads[h64(tid)], *t;

	for (t = *pp; t; t = t->next)
		if (t->tid == tid) {
			if (t->tgid != tgid) {
				/* The tid was reused by another process. */
				struct tls_thread *nx = t->next;

				pend_clear(t);
				free(t->pend);
				memset(t, 0, sizeof(*t));
				t->tid = tid;
				t->tgid = tgid;
				t->next = nx;
			}
			return t;
		}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	t->tgid = tgid;
	t->next = *pp;
	*pp = t;
	return t;
}

/* The connection id as an encrypted connection of process tgid, else NULL. */
static struct conn *tls_conn_of(struct collector *c, uint64_t id, uint32_t tgid)
{
	struct conn *k = id ? collector_conn(c, id) : NULL;

	return k && k->tgid == tgid && k->tls && !k->dead ? k : NULL;
}

static struct tls_ssl **ssl_slot(struct tls_state *s, uint32_t tgid, uint64_t ssl)
{
	struct tls_ssl **pp = &s->ssls[h64(ssl ^ ((uint64_t)tgid << 48))];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->tgid == tgid && (*pp)->ssl == ssl)
			break;
	return pp;
}

static void ssl_learn(struct tls_state *s, uint32_t tgid, uint64_t ssl, uint64_t conn)
{
	struct tls_ssl **pp = ssl_slot(s, tgid, ssl), *e = *pp;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->tgid = tgid;
		e->ssl = ssl;
		e->next = s->ssls[h64(ssl ^ ((uint64_t)tgid << 48))];
		s->ssls[h64(ssl ^ ((uint64_t)tgid << 48))] = e;
	}
	e->conn = conn;
}

static struct conn *ssl_conn(struct collector *c, struct tls_state *s, uint32_t tgid, uint64_t ssl)
{
	struct tls_ssl **pp = ssl_slot(s, tgid, ssl), *e = *pp;
	struct conn *k;

	if (!e)
		return NULL;
	k = tls_conn_of(c, e->conn, tgid);
	if (!k) {
		/* Its connection ended: the address may serve a new one. */
		*pp = e->next;
		free(e);
	}
	return k;
}

static int stream_of(const struct conn *k, int dir)
{
	return (k->role == DBLAT_ROLE_CLIENT) == (dir == DBLAT_DIR_SEND) ? DBLAT_STREAM_FE : DBLAT_STREAM_BE;
}

/*
 * A binding inferred from order alone is taken only when the call's bytes
 * start a message of that stream: another TLS connection of the thread
 * (an HTTPS client on the same event loop) then never lends its bytes.
 */
static bool plausible(const struct conn *k, const struct dblat_event *ev,
		      const struct dblat_tls_data *td, const uint8_t *data)
{
	return td->off == 0 && pg_plain_starts_message(stream_of(k, ev->dir), data, ev->cap_len) != 0;
}

/* One record of plaintext into k's framer. */
static void feed(struct collector *c, struct conn *k, const struct dblat_event *ev,
		 const struct dblat_tls_data *td, const uint8_t *data)
{
	struct dblat_event e = *ev;

	if (!k->tls->plain) {
		k->tls->plain = true;
		c->sum->ctr.conns_tls_plain++;
	}
	e.kind = DBLAT_EV_DATA;
	e.conn_id = k->id;
	e.fd = k->fd;
	e.role = k->role;
	e.stream = stream_of(k, ev->dir);
	e.total_len = e.cap_len = ev->cap_len;
	e.skip_in = 0;
	e.nrec = 0;
	e.tail_rows = e.tail_other = 0;
	e.flags = DBLAT_F_PLAINTEXT | (td->off == 0 ? DBLAT_F_RESYNC : 0) | (ev->flags & DBLAT_F_LOST);
	/* A request starts when the application hands it over; a response is there when it gets it. */
	if (ev->dir == DBLAT_DIR_SEND)
		e.ts_ns = td->call_ns;
	collector_feed(c, k, &e, data);
}

static void pend_add(struct collector *c, struct tls_thread *t, const struct dblat_event *ev,
		     const struct dblat_tls_data *td, const uint8_t *data)
{
	struct pend *p;

	while (t->npend && (t->npend == PEND_MAX || t->pend_bytes + ev->cap_len > PEND_BYTES)) {
		/* Never sent on an encrypted PostgreSQL connection: not ours. */
		if (t->pend[0].td.off == 0)
			c->sum->ctr.tls_unbound++;
		t->pend_bytes -= t->pend[0].ev.cap_len;
		free(t->pend[0].data);
		memmove(t->pend, t->pend + 1, --t->npend * sizeof(*t->pend));
	}
	if (t->npend == t->cap_pend) {
		uint32_t nc = t->cap_pend ? 2 * t->cap_pend : 4;
		struct pend *np = realloc(t->pend, nc * sizeof(*np));

		if (!np)
			return;
		t->pend = np;
		t->cap_pend = nc;
	}
	p = &t->pend[t->npend];
	p->ev = *ev;
	p->td = *td;
	p->data = ev->cap_len ? malloc(ev->cap_len) : NULL;
	if (ev->cap_len && !p->data)
		return;
	if (ev->cap_len)
		memcpy(p->data, data, ev->cap_len);
	t->npend++;
	t->pend_bytes += ev->cap_len;
}

/* Every waiting record of SSL object ssl: fed to k, or dropped when k is NULL. */
static void pend_take(struct collector *c, struct tls_thread *t, uint64_t ssl, struct conn *k)
{
	uint32_t i, kept = 0;

	for (i = 0; i < t->npend; i++) {
		struct pend *p = &t->pend[i];

		if (p->td.ssl == ssl) {
			if (k)
				feed(c, k, &p->ev, &p->td, p->data);
			else if (p->td.off == 0)
				c->sum->ctr.tls_unbound++;
			t->pend_bytes -= p->ev.cap_len;
			free(p->data);
		} else {
			t->pend[kept++] = *p;
		}
	}
	t->npend = kept;
	if (t->call_pending && t->call_ssl == ssl) {
		t->call_pending = false;
		t->call_conn = k ? k->id : 0;
	}
}

/*
 * The thread sent ciphertext on k: the oldest write still waiting is k's,
 * and so is every waiting write of the same SSL object; a write that
 * cannot start k's stream was another connection's, and goes.
 */
static void pend_flush(struct collector *c, struct tls_state *s, struct tls_thread *t, struct conn *k)
{
	while (t->npend) {
		struct pend *p = &t->pend[0];
		uint64_t ssl = p->td.ssl;

		if (plausible(k, &p->ev, &p->td, p->data)) {
			ssl_learn(s, t->tgid, ssl, k->id);
			pend_take(c, t, ssl, k);
			return;
		}
		pend_take(c, t, ssl, NULL);
	}
}

/* Which connection a new call is for; NULL with *pending when a write must wait. */
static struct conn *bind_call(struct collector *c, struct tls_state *s, struct tls_thread *t,
			      const struct dblat_event *ev, const struct dblat_tls_data *td,
			      const uint8_t *data, bool *pending)
{
	struct conn *k;

	*pending = false;
	if (ev->dir == DBLAT_DIR_RECV) {
		k = tls_conn_of(c, t->recv_conn, t->tgid);
		if (k && t->recv_ts >= td->call_ns) {
			/* The call read the socket itself. */
			ssl_learn(s, t->tgid, td->ssl, k->id);
			t->recv_ssl = td->ssl;
			return k;
		}
		k = ssl_conn(c, s, t->tgid, td->ssl);
		if (k) {
			if (k->id == t->recv_conn)
				t->recv_ssl = td->ssl;
			return k;
		}
		k = tls_conn_of(c, t->recv_conn, t->tgid);
		if (k && !t->recv_ssl && plausible(k, ev, td, data)) {
			/* Bytes the thread read just before, handed to this SSL object. */
			ssl_learn(s, t->tgid, td->ssl, k->id);
			t->recv_ssl = td->ssl;
			return k;
		}
		return NULL;
	}
	k = tls_conn_of(c, t->send_conn, t->tgid);
	if (k && t->send_ts >= td->call_ns) {
		ssl_learn(s, t->tgid, td->ssl, k->id);
		return k;
	}
	k = ssl_conn(c, s, t->tgid, td->ssl);
	if (k)
		return k;
	*pending = true;
	return NULL;
}

void tls_on_plaintext(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_tls_data *td = (const void *)(ev + 1);
	const uint8_t *data = (const uint8_t *)(td + 1);
	struct tls_state *s = state(c);
	struct tls_thread *t;
	struct conn *k = NULL;
	bool pending = false;

	if (!s || size < sizeof(*ev) + sizeof(*td) + ev->cap_len || ev->cap_len > DBLAT_TLS_CHUNK ||
	    ev->dir > DBLAT_DIR_RECV)
		return;
	t = thread_get(s, ev->tid, ev->tgid);
	if (!t)
		return;
	if (t->call_ns != td->call_ns || t->call_ssl != td->ssl || t->call_dir != ev->dir) {
		/* A new call: bind it once for all its records. */
		t->call_ns = td->call_ns;
		t->call_ssl = td->ssl;
		t->call_dir = ev->dir;
		t->call_next = 0;
		k = bind_call(c, s, t, ev, td, data, &pending);
		t->call_conn = k ? k->id : 0;
		t->call_pending = pending;
		if (!k && !pending)
			c->sum->ctr.tls_unbound++;
	} else if (t->call_pending) {
		pending = true;
	} else {
		k = tls_conn_of(c, t->call_conn, t->tgid);
	}
	if (td->off != t->call_next) {
		/* A record of the call went missing (ring buffer full): resync later. */
		struct dblat_event lost = *ev;

		lost.cap_len = 0;
		lost.flags |= DBLAT_F_LOST;
		if (k)
			feed(c, k, &lost, td, NULL);
		t->call_next = td->off;
	}
	t->call_next += ev->cap_len;
	if (k)
		feed(c, k, ev, td, data);
	else if (pending)
		pend_add(c, t, ev, td, data);
}

void tls_on_cipher(struct collector *c, struct conn *k, const struct dblat_event *ev, const uint8_t *data)
{
	struct tls_state *s = state(c);
	struct tls_thread *t;

	if (!k->tls) {
		k->tls = calloc(1, sizeof(*k->tls));
		if (!k->tls)
			return;
		c->sum->ctr.conns_tls++;
	}
	if (s && (t = thread_get(s, ev->tid, ev->tgid))) {
		if (ev->dir == DBLAT_DIR_SEND) {
			if (t->npend)
				pend_flush(c, s, t, k);
			t->send_conn = k->id;
			t->send_ts = ev->ts_ns;
		} else {
			t->recv_conn = k->id;
			t->recv_ts = ev->ts_ns;
			t->recv_ssl = 0;
		}
	}
	if (!k->tls->plain)
		tls_timing_on_cipher(c, k, ev, data);
}

void tls_conn_end(struct collector *c, struct conn *k)
{
	if (k->tls && !k->tls->plain)
		tls_timing_end(c, k);
}

void tls_process_exit(struct collector *c, uint32_t tgid)
{
	struct tls_state *s = c->tls;
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < TLS_HASH; i++) {
		struct tls_thread **tp = &s->threads[i], *t;
		struct tls_ssl **sp = &s->ssls[i], *e;

		while ((t = *tp)) {
			if (t->tgid == tgid) {
				*tp = t->next;
				thread_free(t);
			} else {
				tp = &t->next;
			}
		}
		while ((e = *sp)) {
			if (e->tgid == tgid) {
				*sp = e->next;
				free(e);
			} else {
				sp = &e->next;
			}
		}
	}
}

uint32_t tls_timing_fp(struct collector *c)
{
	struct tls_state *s = state(c);

	if (!s)
		return summary_intern(c->sum, TLS_FP_TIMING, sizeof(TLS_FP_TIMING) - 1);
	if (!s->have_fp) {
		s->fp_timing = summary_intern(c->sum, TLS_FP_TIMING, sizeof(TLS_FP_TIMING) - 1);
		s->have_fp = true;
	}
	return s->fp_timing;
}

void tls_free(struct collector *c)
{
	struct tls_state *s = c->tls;
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < TLS_HASH; i++) {
		struct tls_thread *t, *tn;
		struct tls_ssl *e, *en;

		for (t = s->threads[i]; t; t = tn) {
			tn = t->next;
			thread_free(t);
		}
		for (e = s->ssls[i]; e; e = en) {
			en = e->next;
			free(e);
		}
	}
	free(s);
	c->tls = NULL;
}
