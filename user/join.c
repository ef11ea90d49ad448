// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Joining the two ends of a connection traced on one host: the client's and
 * the backend's views of the same socket pair. Both see the same request
 * sequence, so the n-th call the client completes is the n-th the backend
 * completed; from the four timestamps comes the split
 *
 *   client send -> backend read -> backend send -> client read
 *      queue          server          reply
 *
 * which adds up to the client's latency by construction. Client calls wait
 * (at most JOIN_MAX of them) for their server half; the server's own
 * statistics never wait.
 */
#include <stdlib.h>
#include <string.h>
#include "conn.h"

static uint64_t mix(uint64_t a, uint64_t b)
{
	return (a * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
}

/* The same value for both ends of one connection. */
static uint64_t pair_key(const struct dblat_conn_info *ci)
{
	uint64_t a, b;

	if (ci->family == 1) {
		if (!ci->ino || !ci->peer_ino)
			return 0;
		a = ci->ino < ci->peer_ino ? ci->ino : ci->peer_ino;
		b = ci->ino < ci->peer_ino ? ci->peer_ino : ci->ino;
		return mix(mix(1, a), b) | 1;
	}
	if (!ci->lport || !ci->rport)
		return 0;
	{
		uint64_t la, ra;
		uint32_t l4, r4;

		memcpy(&l4, ci->laddr, 4);
		memcpy(&r4, ci->raddr, 4);
		la = mix(l4, ci->lport);
		ra = mix(r4, ci->rport);
		a = la < ra ? la : ra;
		b = la < ra ? ra : la;
	}
	return mix(mix(ci->family, a), b) | 1;
}

static struct done_call *ring_at(struct conn *k, uint32_t i)
{
	return &k->done[(k->done_head + i) % JOIN_MAX];
}

static bool ring_push(struct conn *k, const struct done_call *d)
{
	if (!k->done) {
		k->done = calloc(JOIN_MAX, sizeof(*k->done));
		if (!k->done)
			return false;
	}
	if (k->done_len == JOIN_MAX)
		return false;
	*ring_at(k, k->done_len++) = *d;
	return true;
}

static void ring_pop(struct conn *k)
{
	k->done_head = (k->done_head + 1) % JOIN_MAX;
	k->done_len--;
}

/* Count the oldest waiting client call without its server half. */
static void flush_one(struct collector *c, struct conn *k)
{
	struct done_call d = *ring_at(k, 0);

	ring_pop(k);
	collector_record(c, k, &d, NULL);
}

static uint64_t span(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

static void match(struct collector *c, struct conn *cl)
{
	struct conn *sv = cl->peer;

	while (sv && cl->done_len && sv->done_len) {
		struct done_call d = *ring_at(cl, 0), s = *ring_at(sv, 0);
		uint64_t stages[STAGE_N];
		int i;

		/*
		 * Sampled, one end may enter a window a call before the other
		 * (the window opened between the client's send and the backend's
		 * read): a half that ended before the other began is not its.
		 */
		if (c->windows_ever && (s.end < d.start || s.start > d.end)) {
			if (s.end < d.start)
				ring_pop(sv);
			else
				flush_one(c, cl);
			continue;
		}
		if (d.fp != s.fp && d.fp != c->fp_unknown_stmt && s.fp != c->fp_unknown_stmt) {
			/* Out of step (one side missed a call): drop the older half. */
			if (s.end < d.start)
				ring_pop(sv);
			else
				flush_one(c, cl);
			continue;
		}
		ring_pop(cl);
		ring_pop(sv);
		if (d.fp == c->fp_unknown_stmt)
			d.fp = s.fp;
		for (i = 0; i < STAGE_N; i++)
			stages[i] = UINT64_MAX;
		for (i = 0; i < STAGE_N; i++)
			if (s.stage[i] != UINT64_MAX && s.stage[i])
				stages[i] = s.stage[i];
		/*
		 * A Unix socket's send is stamped when it returns, and the backend
		 * may have read the request by then; likewise the answer. The
		 * request began no later than the backend's read, and the answer
		 * arrived no earlier than the backend's send returned.
		 */
		if (s.start < d.start)
			d.start = s.start;
		if (s.end > d.end)
			s.end = d.end;
		stages[STAGE_QUEUE] = span(d.start, s.start);
		stages[STAGE_SERVER] = span(s.start, s.end);
		stages[STAGE_REPLY] = span(s.end, d.end);
		collector_record(c, cl, &d, stages);
	}
}

void join_conn_info(struct collector *c, struct conn *k)
{
	uint64_t key = pair_key(&k->info);
	struct conn **slot, *o;

	if (!key || k->pair_key || (k->role != DBLAT_ROLE_CLIENT && k->role != DBLAT_ROLE_SERVER))
		return;
	k->pair_key = key;
	slot = &c->pair_hash[key % CONN_HASH];
	for (o = *slot; o; o = o->pair_next)
		if (o->pair_key == key && o->role != k->role && !o->peer) {
			o->peer = k;
			k->peer = o;
			break;
		}
	k->pair_next = *slot;
	*slot = k;
}

bool join_client_done(struct collector *c, struct conn *k, const struct done_call *d)
{
	if (!k->peer)
		return false;
	while (!ring_push(k, d)) {
		if (!k->done)
			return false;
		flush_one(c, k);
	}
	match(c, k);
	return true;
}

void join_server_done(struct collector *c, struct conn *k, const struct done_call *d)
{
	if (!k->peer)
		return;
	if (!ring_push(k, d)) {
		if (!k->done)
			return;
		ring_pop(k);
		ring_push(k, d);
	}
	match(c, k->peer);
}

void join_conn_end(struct collector *c, struct conn *k)
{
	struct conn **pp;

	if (k->role == DBLAT_ROLE_CLIENT) {
		match(c, k);
		while (k->done_len)
			flush_one(c, k);
	} else if (k->peer) {
		match(c, k->peer);
	}
	if (k->peer) {
		struct conn *o = k->peer;

		o->peer = NULL;
		if (o->role == DBLAT_ROLE_CLIENT)
			while (o->done_len)
				flush_one(c, o);
		k->peer = NULL;
	}
	if (k->pair_key) {
		for (pp = &c->pair_hash[k->pair_key % CONN_HASH]; *pp; pp = &(*pp)->pair_next)
			if (*pp == k) {
				*pp = k->pair_next;
				break;
			}
		k->pair_key = 0;
	}
}
