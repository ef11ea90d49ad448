// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conn.h"
#include "fingerprint.h"
#include "session.h"

#define EINPROGRESS_ 115

static uint32_t slot(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 52) & (SESS_SLOTS - 1);
}

static uint8_t side_of(const struct conn *k)
{
	return k->role == DBLAT_ROLE_SERVER ? SIDE_SERVER : SIDE_CLIENT;
}

static struct proc_stats *proc_of(struct collector *c, struct conn *k)
{
	/* Backends come and go: their sessions are the postmaster's. */
	if (!k->sess.proc)
		k->sess.proc = summary_proc(c->sum, k->role == DBLAT_ROLE_SERVER && k->info.ppid > 1 ?
					    k->info.ppid : k->tgid, side_of(k), k->comm);
	return k->sess.proc;
}

static bool known_pg_port(struct sess_tables *t, uint16_t port)
{
	uint32_t i;

	for (i = 0; i < t->npg_ports; i++)
		if (t->pg_ports[i] == port)
			return true;
	return port == 5432;
}

static void note_pg_port(struct sess_tables *t, uint16_t port)
{
	if (!port || known_pg_port(t, port) || t->npg_ports >= 64)
		return;
	t->pg_ports[t->npg_ports++] = port;
}

/* ---- occupancy ---- */

static void occupancy_tick(struct proc_stats *p, uint64_t ts)
{
	if (p->last_change_ns && ts > p->last_change_ns && p->open_now && p->busy_now >= p->open_now)
		p->saturated_ns += ts - p->last_change_ns;
	p->last_change_ns = ts;
}

static void series_occupancy(struct collector *c, uint64_t ts)
{
	struct series_point *sp = summary_series_at(c->sum, ts);

	if (sp) {
		sp->open = c->st.open_total;
		sp->busy = c->st.busy_total;
	}
}

static void set_open(struct collector *c, struct conn *k, bool open, uint64_t ts)
{
	struct proc_stats *p = proc_of(c, k);

	if (!p || k->sess.counted_open == open || side_of(k) != SIDE_CLIENT)
		return;
	occupancy_tick(p, ts);
	k->sess.counted_open = open;
	if (open) {
		p->open_now++;
		c->st.open_total++;
		if (p->open_now > p->max_open)
			p->max_open = p->open_now;
	} else {
		if (k->sess.busy) {
			k->sess.busy = false;
			p->busy_now--;
			c->st.busy_total--;
		}
		p->open_now--;
		c->st.open_total--;
	}
	series_occupancy(c, ts);
}

void session_busy(struct collector *c, struct conn *k, bool busy, uint64_t ts)
{
	struct proc_stats *p = proc_of(c, k);

	if (!p || side_of(k) != SIDE_CLIENT || k->sess.busy == busy || !k->sess.counted_open)
		return;
	occupancy_tick(p, ts);
	k->sess.busy = busy;
	if (busy) {
		p->busy_now++;
		c->st.busy_total++;
		if (p->busy_now > p->max_busy)
			p->max_busy = p->busy_now;
	} else {
		p->busy_now--;
		c->st.busy_total--;
	}
	series_occupancy(c, ts);
}

void session_cut(struct collector *c, struct conn *k, uint64_t ts)
{
	struct sess *s = &k->sess;

	session_busy(c, k, false, ts);
	s->txn_start = 0;
	s->idle_start = 0;
	s->idle_acc = 0;
}

/* ---- failures and outages ---- */

static void outage_fail(struct proc_stats *p, uint64_t ts)
{
	struct outage *o = p->noutages ? &p->outages[p->noutages - 1] : NULL;

	if (o && !o->end_ns) {
		o->failures++;
		return;
	}
	o = realloc(p->outages, (p->noutages + 1) * sizeof(*o));
	if (!o)
		return;
	p->outages = o;
	o = &o[p->noutages++];
	memset(o, 0, sizeof(*o));
	o->start_ns = ts;
	o->failures = 1;
}

static void outage_ok(struct proc_stats *p, uint64_t ts)
{
	struct outage *o = p->noutages ? &p->outages[p->noutages - 1] : NULL;

	if (o && !o->end_ns)
		o->end_ns = ts;
}

static void count_failure(struct proc_stats *p, int reason, uint64_t ts)
{
	if (!p)
		return;
	p->failed[reason]++;
	outage_fail(p, ts);
}

static int reason_of_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ENOENT:
		return FAIL_REFUSED;
	case ETIMEDOUT:
		return FAIL_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return FAIL_RESET;
	default:
		return FAIL_OTHER;
	}
}

static int reason_of_sqlstate(const char *st)
{
	if (!strcmp(st, "28P01") || !strcmp(st, "28000"))
		return FAIL_AUTH;
	if (!strcmp(st, "53300"))
		return FAIL_TOO_MANY;
	if (!strncmp(st, "57P0", 4))
		return FAIL_SHUTDOWN;
	return FAIL_OTHER;
}

/* ---- handshake tables ---- */

static bool pg_sockaddr(struct collector *c, const struct dblat_conn_info *ci,
			const struct dblat_connect_addr *a)
{
	if (ci->family == 1 /* AF_UNIX */) {
		/* PostgreSQL's socket files are named .s.PGSQL.<port> by every client library. */
		if (a->len > 2 && a->len <= DBLAT_ADDR_MAX)
			return memmem(a->addr + 2, a->len - 2, ".s.PGSQL.", 9) != NULL;
		return false;
	}
	return known_pg_port(&c->st, ci->rport);
}

void session_on_connect(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_conn_info *ci = (const void *)(ev + 1);
	const struct dblat_connect_addr *a = (const void *)(ci + 1);
	uint64_t key = ((uint64_t)ev->tgid << 32) | (uint32_t)ev->fd;
	struct sess_connect *sc = &c->st.connects[slot(key)];
	bool pg;

	if (size < sizeof(*ev) + sizeof(*ci) + sizeof(*a))
		return;
	pg = pg_sockaddr(c, ci, a);
	if (ev->ret < 0 && ev->ret != -EINPROGRESS_) {
		/* Refused at once: no connection will ever carry a message. */
		if (pg) {
			char comm[DBLAT_COMM_LEN];

			snprintf(comm, sizeof(comm), "%s", ev->comm);
			count_failure(summary_proc(c->sum, ev->tgid, SIDE_CLIENT, comm),
				      reason_of_errno(-ev->ret), ev->ts_ns);
		}
		return;
	}
	memset(sc, 0, sizeof(*sc));
	sc->key = key;
	sc->start_ns = ci->start_ns ? ci->start_ns : ev->ts_ns;
	sc->exit_ns = ev->ts_ns;
	sc->ret = ev->ret;
	sc->postgres_addr = pg;
	sc->lport = ci->lport;
	sc->rport = ci->rport;
}

static struct sess_connect *connect_take(struct collector *c, uint32_t tgid, int32_t fd)
{
	uint64_t key = ((uint64_t)tgid << 32) | (uint32_t)fd;
	struct sess_connect *sc = &c->st.connects[slot(key)];

	return sc->key == key && sc->start_ns ? sc : NULL;
}

/* Did the TCP handshake of this connect() complete? */
static bool tcp_connected(struct collector *c, const struct sess_connect *sc)
{
	uint32_t key = ((uint32_t)sc->lport << 16) | sc->rport;
	const struct sess_port *e = &c->st.connected[slot(key)];

	return sc->lport && e->key == key && e->ts >= sc->start_ns;
}

void session_on_unadopted_close(struct collector *c, const struct dblat_event *ev)
{
	struct sess_connect *sc = connect_take(c, ev->tgid, ev->fd);
	char comm[DBLAT_COMM_LEN];

	if (!sc)
		return;
	/*
	 * Tried to connect and closed without a single protocol message. A
	 * connection that was made (connect() returned 0, or its handshake
	 * completed) was not refused: a health check's probe of the port.
	 */
	if (sc->postgres_addr && sc->ret != 0 && !tcp_connected(c, sc)) {
		snprintf(comm, sizeof(comm), "%s", ev->comm);
		count_failure(summary_proc(c->sum, ev->tgid, SIDE_CLIENT, comm),
			      sc->ret == -EINPROGRESS_ && ev->ts_ns - sc->start_ns > 1000000000ull ?
				      FAIL_TIMEOUT : FAIL_REFUSED,
			      ev->ts_ns);
	}
	memset(sc, 0, sizeof(*sc));
}

void session_on_tcp_state(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_conn_info *ci = (const void *)(ev + 1);
	uint32_t key;
	struct sess_port *sp;

	if (size < sizeof(*ev) + sizeof(*ci))
		return;
	if (ev->ret != DBLAT_TCP_ESTABLISHED)
		return;
	key = ((uint32_t)ci->lport << 16) | ci->rport;
	if (ev->fd == DBLAT_TCP_SYN_RECV)
		/* Server side: a handshake completed on a listening port; accept() comes later. */
		sp = &c->st.established[slot(key)];
	else if (ev->fd == DBLAT_TCP_SYN_SENT)
		/* Client side: the connect() in progress succeeded. */
		sp = &c->st.connected[slot(key)];
	else
		return;
	sp->key = key;
	sp->ts = ev->ts_ns;
}

void session_on_accept(struct collector *c, const struct dblat_event *ev, size_t size)
{
	const struct dblat_conn_info *ci = (const void *)(ev + 1);
	uint32_t key;
	struct sess_port *sp;

	if (size < sizeof(*ev) + sizeof(*ci) || ci->family == 1)
		return;
	key = ((uint32_t)ci->lport << 16) | ci->rport;
	sp = &c->st.accepted[slot(key)];
	sp->key = key;
	sp->ts = ev->ts_ns;
}

void session_on_fork(struct collector *c, const struct dblat_event *ev)
{
	struct sess_fork *f = &c->st.forks[slot(ev->tid)];

	f->child = ev->tid;
	f->ts = ev->ts_ns;
}

/* ---- per connection ---- */

void session_conn_new(struct collector *c, struct conn *k, uint64_t ts)
{
	struct sess_connect *sc;
	struct sess_fork *f;

	(void)ts;
	if (k->role == DBLAT_ROLE_CLIENT) {
		sc = connect_take(c, k->tgid, k->fd);
		if (sc) {
			k->sess.connect_ns = sc->start_ns;
			memset(sc, 0, sizeof(*sc));
		}
	} else {
		f = &c->st.forks[slot(k->tgid)];
		if (f->child == k->tgid)
			k->sess.connect_ns = k->sess.fork_ns = f->ts;
	}
}

/* The socket identity arrives with the connection: refine the server's start. */
void session_conn_info(struct collector *c, struct conn *k)
{
	uint32_t key;
	struct sess_port *e, *a;

	if (k->role == DBLAT_ROLE_CLIENT) {
		if (k->info.family != 1)
			note_pg_port(&c->st, k->info.rport);
		return;
	}
	if (k->info.family == 1)
		return;
	note_pg_port(&c->st, k->info.lport);
	key = ((uint32_t)k->info.lport << 16) | k->info.rport;
	e = &c->st.established[slot(key)];
	a = &c->st.accepted[slot(key)];
	if (e->key == key && e->ts && (!k->sess.connect_ns || e->ts < k->sess.connect_ns)) {
		/* Server connect phase = waiting in the listen queue until accept(). */
		k->sess.connect_ns = e->ts;
		if (a->key == key && a->ts >= e->ts) {
			struct proc_stats *p = proc_of(c, k);

			if (p)
				hist_add(&p->accept_wait, a->ts - e->ts);
		}
	}
}

/* ph -1: the backend's own start (fork -> ready). */
static void phase(struct proc_stats *p, int ph, uint64_t from, uint64_t to)
{
	if (p && from && to >= from)
		hist_add(ph < 0 ? &p->backend_start : &p->phase[ph], to - from);
}

static void on_ready(struct collector *c, struct conn *k, uint64_t ts)
{
	struct sess *s = &k->sess;
	struct proc_stats *p = proc_of(c, k);
	uint64_t begin = s->connect_ns ? s->connect_ns : (s->tls_ns ? s->tls_ns : s->startup_ns);

	s->ready = true;
	s->ready_ns = ts;
	if (!p)
		return;
	p->opened++;
	if (s->has_auth)
		p->auth_count[s->auth_method]++;
	p->auth_roundtrips += s->auth_rt;
	if (s->connect_ns)
		phase(p, SESS_CONNECT, s->connect_ns, s->tls_ns ? s->tls_ns : s->startup_ns);
	if (s->fork_ns)
		phase(p, -1, s->fork_ns, ts);
	phase(p, SESS_TLS, s->tls_ns, s->startup_ns);
	phase(p, SESS_STARTUP, s->startup_ns, s->auth_ns);
	phase(p, SESS_AUTH, s->auth_ns, s->authok_ns);
	phase(p, SESS_INIT, s->authok_ns, ts);
	phase(p, SESS_READY, begin, ts);
	{
		struct series_point *sp = summary_series_at(c->sum, ts);

		if (sp && side_of(k) == SIDE_CLIENT)
			sp->conns_opened++;
	}
}

static void session_failed(struct collector *c, struct conn *k, int reason, uint64_t ts)
{
	if (k->sess.failed || k->sess.ready || k->sess.cancel)
		return;
	k->sess.failed = true;
	if (side_of(k) == SIDE_CLIENT)
		count_failure(proc_of(c, k), reason, ts);
	else if (proc_of(c, k))
		proc_of(c, k)->failed[reason]++;
}

/*
 * A live session lost: the server ended it with a fatal error (57P0x, 08xxx)
 * or closed it under the client. One failure per session, whatever order
 * the error and the EOF come in.
 */
static void session_lost(struct collector *c, struct conn *k, int reason, uint64_t ts)
{
	struct proc_stats *p = proc_of(c, k);

	if (k->sess.lost || !p)
		return;
	k->sess.lost = true;
	if (side_of(k) == SIDE_CLIENT)
		count_failure(p, reason, ts);
	else
		p->failed[reason]++;
}

static void txn_ready(struct collector *c, struct conn *k, char st, uint64_t ts)
{
	struct sess *s = &k->sess;
	struct proc_stats *p = proc_of(c, k);

	if (!p)
		return;
	if (st == 'T' || st == 'E') {
		/* From the first message of the batch that opened it (BEGIN's send). */
		if (!s->txn_start)
			s->txn_start = k->qlen && k->batch_ts && k->batch_ts <= ts ? k->batch_ts : ts;
		if (st == 'E')
			s->txn_failed = true;
		s->idle_start = ts;
	} else if (st == 'I' && s->txn_start) {
		p->txns++;
		/* Failed, or ended by ROLLBACK (also the tag of a COMMIT that rolled back). */
		if (s->txn_failed || s->rollback_tag)
			p->aborted++;
		hist_add(&p->txn_dur, ts > s->txn_start ? ts - s->txn_start : 0);
		hist_add(&p->idle_in_txn, s->idle_acc);
		s->txn_start = 0;
		s->idle_acc = 0;
		s->idle_start = 0;
		s->txn_failed = false;
	}
}

void session_msg(struct collector *c, struct conn *k, const struct pg_msg *m)
{
	struct sess *s = &k->sess;
	bool fe = m->stream == DBLAT_STREAM_FE;
	struct pg_startup su;
	struct pg_error er;
	struct pg_str tag;
	uint64_t rows;
	uint32_t code;
	char st;

	if (m->kind == PG_MSG_UNTYPED) {
		if (pg_parse_startup(m, &su) != 0)
			return;
		if (su.code == PG_SSL_REQUEST || su.code == PG_GSSENC_REQUEST) {
			if (!s->tls_ns)
				s->tls_ns = m->ts_ns;
		} else if (su.code == PG_CANCEL_REQUEST) {
			s->cancel = true;
		} else if (su.code == PG_STARTUP_V3 && !s->startup_ns) {
			s->startup_ns = m->ts_ns;
			labels_startup(c, k, &su, m->ts_ns);
			set_open(c, k, true, m->ts_ns);
		}
		return;
	}
	if (m->kind == PG_MSG_SSL_ANSWER) {
		if (m->type == 'S' || m->type == 'G')
			s->tls = true;
		return;
	}
	if (fe) {
		if (m->type == 'p')
			s->auth_rt++;
		else if (m->type == 'X')
			s->terminated = true;
		if (s->idle_start && (m->type == 'Q' || m->type == 'P' || m->type == 'B' || m->type == 'E')) {
			s->idle_acc += m->ts_ns > s->idle_start ? m->ts_ns - s->idle_start : 0;
			s->idle_start = 0;
		}
		return;
	}
	switch (m->type) {
	case 'R':
		if (pg_parse_auth(m, &code) != 0)
			break;
		if (!s->auth_ns) {
			s->auth_ns = m->ts_ns;
			s->has_auth = true;
			s->auth_method = code == 0 ? AUTH_TRUST : code == 3 ? AUTH_CLEARTEXT :
					 code == 5 ? AUTH_MD5 : code == 10 ? AUTH_SCRAM :
					 (code == 7 || code == 8) ? AUTH_GSS : AUTH_OTHER;
		}
		if (code == 0 && !s->authok_ns)
			s->authok_ns = m->ts_ns;
		break;
	case 'E':
		if (pg_parse_error(m, &er) != 0)
			break;
		if (!s->ready) {
			session_failed(c, k, reason_of_sqlstate(er.sqlstate), m->ts_ns);
		} else if (!strncmp(er.sqlstate, "57P0", 4) || !strncmp(er.sqlstate, "08", 2)) {
			session_lost(c, k, reason_of_sqlstate(er.sqlstate), m->ts_ns);
		}
		break;
	case 'C':
		/* ROLLBACK TO SAVEPOINT has this tag too: only the last one before 'I' counts. */
		if (pg_parse_command_complete(m, &tag, &rows) == 0)
			s->rollback_tag = tag.n == 8 && !memcmp(tag.p, "ROLLBACK", 8);
		break;
	case 'Z':
		if (pg_parse_ready(m, &st) != 0)
			break;
		/*
		 * Opened only if seen from its start: one picked up at its
		 * authentication (a window opened mid-way, or dblat attached)
		 * began untraced, and counting it would put sessions over the
		 * time traced above their rate.
		 */
		if (!s->ready && (s->startup_ns || s->tls_ns)) {
			if (!s->counted_open)
				set_open(c, k, true, m->ts_ns);
			on_ready(c, k, m->ts_ns);
		} else if (!s->ready) {
			/* Picked up mid-session: it is open, its set-up was not seen. */
			s->ready = true;
			set_open(c, k, true, m->ts_ns);
		}
		txn_ready(c, k, st, m->ts_ns);
		s->rollback_tag = false;
		break;
	default:
		break;
	}
}

static bool is_commit(const char *fp)
{
	return !strncasecmp(fp, "COMMIT", 6) || !strncasecmp(fp, "END", 3);
}

void session_call_done(struct collector *c, struct conn *k, const struct done_call *p)
{
	struct proc_stats *ps = proc_of(c, k);
	const struct fp_entry *fe = p->fp < c->sum->nfps ? c->sum->fps[p->fp] : NULL;
	uint64_t start = p->start, ts = p->end;
	uint64_t lat = ts > start ? ts - start : 0;

	if (!ps || !fe)
		return;
	ps->class_calls[fe->cls]++;
	ps->class_ns[fe->cls] += lat;
	if (fe->cls == STMT_TXN && is_commit(fe->text))
		hist_add(&ps->commit_lat, lat);
	if (!p->error && side_of(k) == SIDE_CLIENT)
		outage_ok(ps, ts);
	if (fe->cls == STMT_MAINT && side_of(k) == SIDE_CLIENT) {
		char what[48];
		size_t n = strcspn(fe->text, " (");

		snprintf(what, sizeof(what), "%.*s", (int)(n < 40 ? n : 40), fe->text);
		summary_timeline_add(c->sum, start, ts, what, fe->text);
	}
}

void session_end(struct collector *c, struct conn *k, uint64_t ts, bool eof)
{
	struct sess *s = &k->sess;
	struct proc_stats *p;

	if (k->role == DBLAT_ROLE_HTTP)
		return;
	p = proc_of(c, k);
	/*
	 * Ended before it was ready. Not when encrypted: after the server's 'S'
	 * nothing of the set-up can be seen, and an encrypted session that
	 * worked ends the same way.
	 */
	if (!s->ready && !s->cancel && !s->tls && (s->startup_ns || s->tls_ns))
		session_failed(c, k, FAIL_RESET, ts);
	if (s->ready && p) {
		if (s->ready_ns) {
			if (!s->close_unseen)
				hist_add(&p->lifetime, ts - s->ready_ns);
			p->closed++;
		}
		/* The server went away under a live session. */
		if (eof && !s->terminated && side_of(k) == SIDE_CLIENT)
			session_lost(c, k, FAIL_RESET, ts);
	}
	set_open(c, k, false, ts);
	s->ready = false;
	s->startup_ns = s->tls_ns = 0;
}

/* End of the run: close the books on what is still open. */
void session_finish(struct collector *c, uint64_t ts)
{
	uint32_t i, j;

	for (i = 0; i < c->sum->nprocs; i++) {
		struct proc_stats *p = c->sum->procs[i];
		char detail[64];

		occupancy_tick(p, ts);
		/* Outages go on the timeline too, so latency can be laid against them. */
		for (j = 0; j < p->noutages; j++) {
			snprintf(detail, sizeof(detail), "%s %u: %llu failures", p->comm, p->tgid,
				 (unsigned long long)p->outages[j].failures);
			summary_timeline_add(c->sum, p->outages[j].start_ns, p->outages[j].end_ns, "outage", detail);
		}
	}
}
