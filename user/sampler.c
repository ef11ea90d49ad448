// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include "dblat.h"
#include "mono_clock.h"
#include "sampler.h"
#include "tracer.h"
#include "window_event.h"

#define MS 1000000ull
/* A gap shorter than this keeps the hooks: detaching and attaching would cost more. */
#define DETACH_MIN_GAP_NS (100 * MS)
/* After a window, how often to look for the last call to end. */
#define DETACH_POLL_MS 1
/* While every call is traced, its cost is judged this often. */
#define FULL_JUDGE_NS (500 * MS)
/*
 * After one stretch over the budget the next, which confirms it, is short:
 * a load that begins is in windows within 650 ms, not a second. Tracing
 * every call of a load at a host's limit is what costs its throughput.
 */
#define FULL_CONFIRM_NS (150 * MS)

/* The stretch of every call under way: a short one confirms a stretch over the budget. */
static uint64_t full_len(const struct sampler *s)
{
	return s->budget->over ? FULL_CONFIRM_NS : FULL_JUDGE_NS;
}

/* Events the programs have written so far. */
static uint64_t events_written(struct sampler *s)
{
	uint64_t st[DBLAT_STAT_NR];

	tracer_stats(s->tr, st);
	return st[DBLAT_STAT_EVENTS];
}

static uint64_t own_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* -v: when the data hooks come and go, by the wall clock, to set beside the load's own logs. */
static void say_hooks(const struct sampler *s, const char *what)
{
	struct timespec ts;

	if (!s->verbose || clock_gettime(CLOCK_REALTIME, &ts))
		return;
	fprintf(stderr, "dblat: hooks %s at %lld.%06ld\n", what, (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

#define TOLL_CALLS 125
/* Rounds of TOLL_CALLS per timing around a window: about a millisecond where a syscall takes 1.2 us. */
#define WINDOW_TOLL_ROUNDS 8
/* Pairs before they replace the start-up toll, which is timed under the load once before and once after. */
#define TOLL_PAIRS_TRUSTED 5
/*
 * Once trusted, a pair is taken around every fourth window only: the toll
 * is the machine's and moves slowly, and the timing just after the hooks
 * came back was most of what a window's start cost the load (at 7,000 tps,
 * calls overlapping it took over 2 ms 6.0% of the time with a pair every
 * window, 0.6% with one every fourth, 0.2% far from windows).
 */
#define TOLL_EVERY_WINDOWS 4

double syscall_ns(unsigned rounds, bool yield)
{
	double best = 0;

	for (unsigned round = 0; round < rounds; round++) {
		uint64_t t0 = mono_ns(), t;

		for (int i = 0; i < TOLL_CALLS; i++)
			syscall(SYS_getppid);
		t = mono_ns() - t0;
		if (!round || (double)t / TOLL_CALLS < best)
			best = (double)t / TOLL_CALLS;
		/*
		 * A round is 150 us of dblat on a CPU: done back to back, at a
		 * window's edges, the load's wakeups on that CPU waited for all
		 * of them (at 7,000 tps, calls at a window's start took over
		 * 1 ms 13% of the time, 0.7% far from windows; 5% with this).
		 */
		if (yield)
			sched_yield();
	}
	return best;
}

/* Budget: the hooks just left; with the timing taken when they came back, a pair for the toll. */
static void toll_pair(struct sampler *s)
{
	double off, median;

	if (!s->budget || !s->toll_on)
		return;
	off = syscall_ns(WINDOW_TOLL_ROUNDS, true);
	median = toll_add(&s->toll, s->toll_on, off);
	if (s->toll.n >= TOLL_PAIRS_TRUSTED)
		s->toll_ns = median;
	s->toll_on = 0;
}

static uint32_t cost_ppm(double share)
{
	return share <= 0 ? 0 : share >= 4000 ? 4000000000u : (uint32_t)(share * 1e6);
}

static void window_event(struct sampler *s, uint64_t start, uint64_t end, unsigned pct, uint32_t flags)
{
	struct window_event e;

	window_event_make(&e, start, end, pct, (uint32_t)(s->period_ns / MS));
	e.w.flags = flags;
	if (s->budget) {
		e.w.full_cost_ppm = cost_ppm(s->budget->full_cost);
		e.w.peak_cost_ppm = cost_ppm(s->budget->peak_cost);
	}
	tracer_deliver(s->tr, &e, sizeof(e));
}

/* A stretch's cost is read from now: the hooks are attached. */
static void stretch_begin(struct sampler *s)
{
	s->measuring = true;
	s->hooked_at = mono_ns();
	if (tracer_self_cost(s->tr, &s->cost_at))
		s->hooked_at = 0;
}

/*
 * The stretch traced last is over and its events read: the share to trace
 * next. dblat's CPU since the last judgment is charged to the time traced
 * since then: a reader behind at its niceness reads a stretch's events
 * late, and nothing is lost between two judgments.
 */
static unsigned stretch_judge(struct sampler *s, bool held)
{
	struct budget_reading r;
	uint64_t cpu = own_cpu_ns(), wait = tracer_wait_cpu_ns(s->tr);
	uint64_t fixed = s->fixed_ns + wait - s->wait_at;
	struct dblat_self_cost now;
	unsigned pct;

	memset(&r, 0, sizeof(r));
	if (s->hooked_at && !tracer_self_cost(s->tr, &now)) {
		r.attached_ns = mono_ns() - s->hooked_at;
		r.hook_runs = now.runs - s->cost_at.runs;
		r.ready_runs = now.ready_runs - s->cost_at.ready_runs;
		r.bpf_ns = budget_runs_ns(r.hook_runs, now.timed - s->cost_at.timed, now.timed_ns - s->cost_at.timed_ns);
	}
	r.away_runs = s->away_runs;
	r.away_bpf_ns = s->away_bpf_ns;
	s->away_runs = 0;
	r.traced_ns = s->traced_ns;
	r.user_ns = cpu - s->user_at > fixed ? cpu - s->user_at - fixed : 0;
	r.toll_ns = s->toll_ns;
	r.held = held;
	s->measuring = false;
	s->traced_ns = 0;
	s->user_at = cpu;
	s->wait_at = wait;
	s->fixed_ns = 0;
	pct = budget_next(s->budget, &r);
	if (s->verbose) {
		/* Events written since the last judgment (since the start, at the first). */
		uint64_t events = events_written(s) - s->events_at;

		s->events_at += events;
		fprintf(stderr, "dblat: budget: %.3f s traced, dblat %.1f ms CPU (%llu events; %.1f ms more for none), "
			"BPF %.2f ms in %.0f ms hooked (%llu runs, toll %.0f ns each): every call would cost %.2f%% "
			"of the CPUs, the gaps %.3f%%%s; tracing %u%%%s\n",
			r.traced_ns / 1e9, r.user_ns / 1e6, (unsigned long long)events, fixed / 1e6, r.bpf_ns / 1e6,
			r.attached_ns / 1e6,
			(unsigned long long)r.hook_runs, r.toll_ns, s->budget->full_cost * 100,
			s->budget->away_cost * 100, s->budget->away_dear ? " (dear: the data-ready hook leaves too)" : "",
			pct, held ? " (held: requests are bound to statements)" : "");
	}
	return pct;
}

static void set_share(struct sampler *s, unsigned pct)
{
	s->pct = pct;
	s->win_ns = s->period_ns / 100 * pct;
}

/* Each period's window starts at a random point, so that a periodic load is not aliased. */
static void plan(struct sampler *s)
{
	uint64_t slack = s->period_ns - s->win_ns;

	s->open_at = s->period_start + (slack ? (uint64_t)random() % slack : 0);
	s->close_at = s->open_at + s->win_ns;
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

/* Have the calls open at a window's end ended? Looking is what any window costs. */
static bool open_calls_end(struct sampler *s)
{
	uint64_t t0 = thread_cpu_ns();
	bool open = calls_open(s);

	s->fixed_ns += thread_cpu_ns() - t0;
	return !open;
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

/* Budget: the hooks left; what the data-ready one costs if it stayed is read from now. */
static void away_begin(struct sampler *s, bool ready_stays)
{
	s->cost_left_read = ready_stays && !tracer_self_cost(s->tr, &s->cost_left);
}

static void away_read(struct sampler *s)
{
	struct dblat_self_cost c;
	bool read = s->cost_left_read;

	s->cost_left_read = false;
	/* Detached with the others, or no socket woke: nothing to learn its run time from. */
	if (!read || tracer_self_cost(s->tr, &c) || c.ready_runs == s->cost_left.ready_runs)
		return;
	/* Only that hook ran in the gap: its runs are all the runs, and the timed ones are its own. */
	s->away_runs = c.ready_runs - s->cost_left.ready_runs;
	s->away_bpf_ns = budget_runs_ns(s->away_runs, c.timed - s->cost_left.timed, c.timed_ns - s->cost_left.timed_ns);
}

/* Budget: the hooks came back; is it for a window the toll is timed around? */
static bool toll_due(struct sampler *s, unsigned pct)
{
	/* Every call traced from now: no detach soon to pair a timing with. */
	if (!s->budget || pct == 100)
		return false;
	if (s->toll.n >= TOLL_PAIRS_TRUSTED && ++s->untimed_windows < TOLL_EVERY_WINDOWS)
		return false;
	s->untimed_windows = 0;
	return true;
}

/* The hooks come back (if they were away) and a marker says from when, and in which mode. */
static uint64_t hooks_back(struct sampler *s, unsigned pct, bool marker)
{
	uint64_t now, t0;

	if (!s->detached) {
		now = mono_ns();
		if (marker)
			window_event(s, now, 0, pct, 0);
		return now;
	}
	/* All that came before is handed on first: the marker below is in order. */
	tracer_drain(s->tr);
	t0 = thread_cpu_ns();
	now = mono_ns();
	away_read(s);
	sweep(s, now);
	window_event(s, now, 0, pct, DBLAT_WIN_REOPENED);
	tracer_data_hooks(s->tr, true);
	say_hooks(s, "on");
	if (toll_due(s, pct))
		s->toll_on = syscall_ns(WINDOW_TOLL_ROUNDS, true);
	s->fixed_ns += thread_cpu_ns() - t0;
	s->detached = false;
	return now;
}

/* Budget: every call traced from now (BPF's gate lets paused connections back at their next request). */
static void go_full(struct sampler *s)
{
	uint64_t now = hooks_back(s, 100, true);

	/* The hooks stay: a timing from the window before would pair with one taken after a stretch of any length. */
	s->toll_on = 0;
	tracer_windows(s->tr, false);
	tracer_sample_window(s->tr, true);
	s->detach_by = 0;
	s->pct = 100;
	s->opened = now;
	s->period_start = now;
	stretch_begin(s);
}

/* Budget: the next window's share, judged by the stretch just traced. False: every call from now. */
static bool rejudge(struct sampler *s)
{
	unsigned pct = stretch_judge(s, false);

	if (pct == 100) {
		go_full(s);
		return false;
	}
	if (pct != s->pct) {
		set_share(s, pct);
		plan(s);
	}
	return true;
}

static void open_window(struct sampler *s)
{
	if (s->budget && s->measuring && !rejudge(s))
		return;
	hooks_back(s, s->pct, false);
	s->detach_by = 0;
	tracer_sample_window(s->tr, true);
	s->opened = mono_ns();
	s->close_at = s->opened + s->win_ns;
	if (s->budget)
		stretch_begin(s);
}

/* A window, or a stretch of every call (pct 100), ends: plan the next window. */
static void close_window(struct sampler *s, uint64_t now, unsigned pct)
{
	uint64_t end;

	tracer_sample_window(s->tr, false);
	end = mono_ns();
	window_event(s, s->opened, end, pct, 0);
	s->opened = 0;
	do
		s->period_start += s->period_ns;
	while (s->period_start + s->period_ns <= now);
	plan(s);
	/* Calls still open finish traced: until they have, or half the gap has gone. */
	s->detach_by = s->open_at > end + DETACH_MIN_GAP_NS ? end + (s->open_at - end) / 2 : 0;
}

/* Budget: a stretch of every call is over. */
static void full_period_over(struct sampler *s, uint64_t now)
{
	unsigned pct;

	s->traced_ns += now - s->period_start;
	pct = stretch_judge(s, s->hold && s->hold(s->hold_ctx));
	if (pct == 100) {
		s->period_start = now;
		stretch_begin(s);
		return;
	}
	/* Over the budget: windows from the next period on. */
	tracer_windows(s->tr, true);
	set_share(s, pct);
	s->period_start = now - s->period_ns;
	close_window(s, now, 100);
}

void sampler_start(struct sampler *s, struct tracer *tr, unsigned pct, struct budget *budget, double toll_ns,
		   uint64_t now)
{
	struct window_event e;

	memset(s, 0, sizeof(*s));
	s->tr = tr;
	s->budget = budget;
	s->toll_ns = toll_ns;
	s->period_ns = (budget ? BUDGET_PERIOD_MS : SAMPLE_PERIOD_MS) * MS;
	s->period_start = now;
	srandom((unsigned)now ^ (unsigned)getpid());
	if (budget) {
		window_event_budget(&e, (uint32_t)(budget->limit * 1e6 + 0.5), BUDGET_PERIOD_MS);
		tracer_deliver(tr, &e, sizeof(e));
		tracer_windows(tr, false);
		tracer_sample_window(tr, true);
		s->pct = 100;
		s->opened = now;
		s->user_at = own_cpu_ns();
		s->wait_at = tracer_wait_cpu_ns(tr);
		stretch_begin(s);
		return;
	}
	/* Windows from the start, none open yet (set before the hooks went on: tracer_opts). */
	set_share(s, pct);
	plan(s);
	window_event(s, 0, 0, pct, 0);
}

int sampler_tick(struct sampler *s, uint64_t now, int max_ms)
{
	uint64_t due;

	if (s->pct == 100) {
		if (now >= s->period_start + full_len(s))
			full_period_over(s, now);
	} else {
		if (!s->opened && now >= s->open_at)
			open_window(s);
		if (s->pct < 100 && s->opened && now >= s->close_at) {
			s->traced_ns += mono_ns() - s->opened;
			close_window(s, now, s->pct);
		}
		if (s->detach_by && !s->opened && (now >= s->detach_by || open_calls_end(s))) {
			uint64_t t0 = thread_cpu_ns();
			bool ready_stays = s->budget && !s->budget->away_dear;

			tracer_keep_ready_hook(s->tr, ready_stays);
			tracer_data_hooks(s->tr, false);
			away_begin(s, ready_stays);
			say_hooks(s, "off");
			s->detached = true;
			s->detach_by = 0;
			toll_pair(s);
			s->fixed_ns += thread_cpu_ns() - t0;
			/* The window is over and its calls have ended: what it cost sets the next one. */
			if (s->budget && s->measuring)
				rejudge(s);
		}
	}
	/* Calls end within a millisecond or so at a host's limit: hooks kept for a poll's 20 ms were a sixth of each window. */
	if (s->detach_by)
		return max_ms < DETACH_POLL_MS ? max_ms : DETACH_POLL_MS;
	if (s->pct == 100)
		due = s->period_start + full_len(s);
	else
		due = s->opened ? s->close_at : s->open_at;
	now = mono_ns();
	if (due <= now)
		return 0;
	return due - now < (uint64_t)max_ms * MS ? (int)((due - now + MS - 1) / MS) : max_ms;
}

void sampler_stop(struct sampler *s, uint64_t now)
{
	/* A stretch of every call goes on to the end: the consumer ends it with the run (this says the last estimate). */
	if (s->pct == 100) {
		window_event(s, now, 0, 100, s->budget->held_over ? DBLAT_WIN_HELD : 0);
		return;
	}
	if (!s->opened)
		return;
	tracer_sample_window(s->tr, false);
	window_event(s, s->opened, now, s->pct, 0);
	s->opened = 0;
}
