// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "dblat.h"
#include "mono_clock.h"
#include "sampler.h"
#include "tracer.h"
#include "window_event.h"

#define MS 1000000ull
/* A gap shorter than this keeps the hooks: detaching and attaching would cost more. */
#define DETACH_MIN_GAP_NS (100 * MS)

static void window_event(struct sampler *s, uint64_t start, uint64_t end)
{
	struct window_event e;

	window_event_make(&e, start, end, s->pct, SAMPLE_PERIOD_MS);
	tracer_deliver(s->tr, &e, sizeof(e));
}

/* Each period's window starts at a random point, so that a periodic load is not aliased. */
static void plan(struct sampler *s)
{
	uint64_t slack = s->period_ns - s->win_ns;

	s->open_at = s->period_start + (slack ? (uint64_t)random() % slack : 0);
	s->close_at = s->open_at + s->win_ns;
}

void sampler_start(struct sampler *s, struct tracer *tr, unsigned pct, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	s->tr = tr;
	s->pct = pct;
	s->period_ns = SAMPLE_PERIOD_MS * MS;
	s->win_ns = s->period_ns / 100 * pct;
	s->period_start = now;
	srandom((unsigned)now ^ (unsigned)getpid());
	plan(s);
	window_event(s, 0, 0);
}

/* Keys of a map keyed by tgid << 32 | fd, read before any is changed (a hash map's walk restarts after a delete). */
static __u64 *conn_keys(int fd, uint32_t *n)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	__u64 *keys, key, *prev = NULL;

	*n = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.max_entries)
		return NULL;
	keys = malloc((size_t)info.max_entries * sizeof(*keys));
	if (!keys)
		return NULL;
	while (*n < info.max_entries && !bpf_map_get_next_key(fd, prev, &key)) {
		keys[(*n)++] = key;
		prev = &keys[*n - 1];
	}
	return keys;
}

/* Some connection is inside a call (or a transaction): detaching now would cut it. */
static bool calls_open(struct sampler *s)
{
	int fd = tracer_conns_map(s->tr);
	struct dblat_conn c;
	__u64 key, *prev = NULL, k;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		k = key;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &key, &c))
			continue;
		if (c.state == DBLAT_CONN_PG && !c.tls && !c.gate.paused && !c.gate.idle)
			return true;
	}
	return false;
}

/* Is /proc/TGID/fd/FD still the socket the entry was made for? */
static bool same_socket(uint32_t tgid, int32_t fd, uint64_t ino)
{
	char path[64], link[64], want[48];
	ssize_t n;

	if (!ino)
		return false;
	snprintf(path, sizeof(path), "/proc/%u/fd/%d", tgid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	return !strcmp(link, want);
}

/*
 * Before the hooks come back: connections closed while they were away are
 * ended (their close is dated now: it went by unseen), and the others wait
 * for their next request (include/sample_gate.h), whatever they did
 * meanwhile. The ignored sockets are forgotten: their numbers may be new
 * sockets now.
 */
static void sweep(struct sampler *s, uint64_t now)
{
	int fd = tracer_conns_map(s->tr), ign = tracer_ignored_map(s->tr);
	uint32_t n, i;
	__u64 *keys = conn_keys(fd, &n), *ikeys;
	struct dblat_conn c;

	for (i = 0; keys && i < n; i++) {
		uint32_t tgid = keys[i] >> 32;
		int32_t cfd = (int32_t)(uint32_t)keys[i];

		if (bpf_map_lookup_elem(fd, &keys[i], &c))
			continue;
		if (!same_socket(tgid, cfd, c.ino)) {
			bpf_map_delete_elem(fd, &keys[i]);
			if (c.state != DBLAT_CONN_PENDING || c.connecting) {
				struct dblat_event ev;

				memset(&ev, 0, sizeof(ev));
				ev.kind = DBLAT_EV_CLOSE;
				ev.ts_ns = now;
				ev.conn_id = c.id;
				ev.tgid = ev.tid = tgid;
				ev.fd = cfd;
				ev.role = c.role;
				ev.flags = DBLAT_F_CLOSE_UNSEEN;
				tracer_deliver(s->tr, &ev, sizeof(ev));
			}
			continue;
		}
		if (c.state != DBLAT_CONN_PG || c.gate.paused)
			continue;
		/* Idle when the hooks left: a clean boundary. Else its answer may still be due. */
		c.gate.last_be = c.gate.idle;
		c.gate.paused = 1;
		bpf_map_update_elem(fd, &keys[i], &c, BPF_EXIST);
	}
	free(keys);
	ikeys = conn_keys(ign, &n);
	for (i = 0; ikeys && i < n; i++)
		bpf_map_delete_elem(ign, &ikeys[i]);
	free(ikeys);
}

static void open_window(struct sampler *s)
{
	if (s->detached) {
		uint64_t now;

		/* All that came before is handed on first: the marker below is in order. */
		tracer_drain(s->tr);
		now = mono_ns();
		sweep(s, now);
		window_event(s, now, 0);
		tracer_data_hooks(s->tr, true);
		s->detached = false;
	}
	s->detach_by = 0;
	tracer_sample_window(s->tr, true);
	s->opened = mono_ns();
}

static void close_window(struct sampler *s, uint64_t now)
{
	uint64_t end;

	tracer_sample_window(s->tr, false);
	end = mono_ns();
	window_event(s, s->opened, end);
	s->opened = 0;
	do
		s->period_start += s->period_ns;
	while (s->period_start + s->period_ns <= now);
	plan(s);
	/* Calls still open finish traced: until they have, or half the gap has gone. */
	s->detach_by = s->open_at > end + DETACH_MIN_GAP_NS ? end + (s->open_at - end) / 2 : 0;
}

int sampler_tick(struct sampler *s, uint64_t now, int max_ms)
{
	uint64_t due;

	if (!s->opened && now >= s->open_at)
		open_window(s);
	if (s->opened && now >= s->close_at)
		close_window(s, now);
	if (s->detach_by && !s->opened && (now >= s->detach_by || !calls_open(s))) {
		tracer_data_hooks(s->tr, false);
		s->detached = true;
		s->detach_by = 0;
	}
	if (s->detach_by)
		return max_ms;
	due = s->opened ? s->close_at : s->open_at;
	now = mono_ns();
	if (due <= now)
		return 0;
	return due - now < (uint64_t)max_ms * MS ? (int)((due - now + MS - 1) / MS) : max_ms;
}

void sampler_stop(struct sampler *s, uint64_t now)
{
	if (!s->opened)
		return;
	tracer_sample_window(s->tr, false);
	window_event(s, s->opened, now);
	s->opened = 0;
}
