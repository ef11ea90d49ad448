// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * dblat: where a PostgreSQL-backed service spends its database time,
 * traced from outside the process with BPF.
 */
#include <argp.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "budget.h"
#include "mono_clock.h"
#include "collector.h"
#include "exports.h"
#include "reader_pace.h"
#include "recording.h"
#include "report.h"
#include "sampler.h"
#include "summary.h"
#include "tracer.h"

#define MAX_TARGETS 64
/* Events arrive without wake-ups: short polls keep each batch of work small. */
#define POLL_MS 20
/* dblat's own CPU, as % of the host's, unless told otherwise (--budget, --full). */
#define DEFAULT_BUDGET_PCT 0.5

static struct env {
	pid_t pids[MAX_TARGETS];
	int npids;
	const char *comms[MAX_TARGETS];
	int ncomms;
	double duration;
	double interval;
	const char *json;
	unsigned cap_fe;
	unsigned ringbuf_mb;
	int width;
	int nice;
	bool verbose;
	bool server_stages;
	bool no_tls_probes;
	unsigned sample_pct;	/* a fixed share traced in windows; 0: none */
	double budget_pct;	/* a CPU budget, % of the host's CPUs; 0: none */
	bool budget_asked;	/* ... named by --budget, not the default */
	bool full;		/* every call, whatever it costs */
	enum { MODE_LIVE, MODE_RECORD, MODE_REPORT } mode;
	const char *output;	/* record -o */
	const char *input;	/* report FILE */
} env = { .width = 100, .nice = 10, .no_tls_probes = true };

const char *argp_program_version = "dblat 0.1";
static const char doc[] =
"Trace PostgreSQL traffic on this host and report where database time goes.\n"
"\n"
"USAGE: dblat [-p PID]... [-c COMM]... [-d SECONDS] [-i SECONDS] [--json FILE]\n"
"       dblat record -o FILE [the same options]\n"
"       dblat report FILE [--json FILE]\n"
"\n"
"EXAMPLES:\n"
"    dblat                        # every process, until Ctrl-C\n"
"    dblat -d 30 --json out.json  # 30 seconds, then write the summary\n"
"    dblat -p 1234 -i 5           # pid 1234 and its children, a table every 5 s\n"
"    dblat -c pgbench -c postgres # processes by name\n"
"    dblat record -o run.dblat -d 60 && dblat report run.dblat --json run.json";

enum { OPT_JSON = 1000, OPT_CAPTURE, OPT_RINGBUF, OPT_WIDTH, OPT_SERVER_STAGES, OPT_NO_TLS_PROBES, OPT_TLS_PROBES,
       OPT_NICE, OPT_SAMPLE, OPT_BUDGET, OPT_FULL };

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Trace this process and its descendants (repeatable)", 0 },
	{ "comm", 'c', "COMM", 0, "Trace processes with this name (repeatable)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long", 0 },
	{ "interval", 'i', "SECONDS", 0, "Print a live table this often", 0 },
	{ "json", OPT_JSON, "FILE", 0, "Write the final summary as JSON (schema dblat/1)", 0 },
	{ "capture-bytes", OPT_CAPTURE, "N", 0, "Bytes of each client request copied (SQL text longer is cut; 64..4096, default 4096)", 0 },
	{ "ringbuf-mb", OPT_RINGBUF, "MB", 0, "Ring buffer size in MiB, split across the CPUs (power of 2, default 16; at least 1 per CPU)", 0 },
	{ "nice", OPT_NICE, "N", 0, "Scheduling niceness of dblat itself once attached (-20..19, "
	  "default 10): the traced load keeps the CPU when both want it; the ring buffer "
	  "absorbs the wait. A reader falling behind (a ring a thirty-second full) runs at nice 0 "
	  "until it has caught up; what still overflows is counted as dropped", 0 },
	{ "sample", OPT_SAMPLE, "PERCENT", 0, "Trace connections in windows that make up PERCENT of "
	  "each second (1..99), at a random point of it; a connection enters and leaves a window "
	  "between calls, so every call seen is whole, and between windows the hooks are detached. "
	  "For runs at a host's limit: costs about that share of full tracing. Counts are of the "
	  "calls seen; rates are per second traced. Request binding, pool waits and encrypted "
	  "connections need every call: off", 0 },
	{ "budget", OPT_BUDGET, "PERCENT", 0, "Keep dblat's own cost (its process, its BPF programs, the toll its "
	  "hooks take from every syscall) under PERCENT of the host's CPUs (0.1..50; default 0.5, which gives way "
	  "while a traced process serves HTTP: binding requests to statements needs every call). While "
	  "tracing every call would cost more (a load of tiny queries at a host's limit), connections are "
	  "traced in windows sized to fit, as with --sample; when it fits again, every call. The reports "
	  "say when and how much", 0 },
	{ "full", OPT_FULL, NULL, 0, "Trace every call whatever it costs (no budget); --server-stages "
	  "and --tls-probes imply it", 0 },
	{ "width", OPT_WIDTH, "N", 0, "Characters of query text in the text report (default 100)", 0 },
	{ "server-stages", OPT_SERVER_STAGES, NULL, 0, "Also time parse/plan/execute, lock waits and checkpoints in the server with PostgreSQL's USDT probes. Each probe hit costs a trap, 2 to 6 per statement; scripts/bench-overhead.sh --dblat-args --server-stages measures it", 0 },
	{ "tls-probes", OPT_TLS_PROBES, NULL, 0, "Read encrypted connections' statements from libssl (uprobes on SSL_read/SSL_write: two traps per call in every process using libssl, measured by scripts/bench-overhead.sh). Without it encrypted connections are timed per round trip, without statement text", 0 },
	{ "no-tls-probes", OPT_NO_TLS_PROBES, NULL, 0, "Leave libssl alone (the default)", 0 },
	{ "output", 'o', "FILE", 0, "record: write the recording here", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf's messages, the budget's judgments and when the hooks come and go", 0 },
	{},
};

/* A decimal in lo..hi (NaN and the infinities are not). */
static double parse_double(const char *arg, double lo, double hi, const char *what, struct argp_state *st)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= lo && v <= hi))
		argp_error(st, "invalid %s: %s", what, arg);
	return v;
}

static long parse_long(const char *arg, long lo, long hi, const char *what, struct argp_state *st)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		argp_error(st, "invalid %s: %s", what, arg);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *st)
{
	switch (key) {
	case 'p':
		if (env.npids == MAX_TARGETS)
			argp_error(st, "too many -p (at most %d)", MAX_TARGETS);
		env.pids[env.npids++] = parse_long(arg, 1, 0x7fffffff, "pid", st);
		break;
	case 'c':
		if (env.ncomms == MAX_TARGETS)
			argp_error(st, "too many -c (at most %d)", MAX_TARGETS);
		if (!*arg || strlen(arg) >= DBLAT_COMM_LEN)
			argp_error(st, "invalid comm '%s' (1 to %d characters)", arg, DBLAT_COMM_LEN - 1);
		env.comms[env.ncomms++] = arg;
		break;
	case 'd':
		env.duration = parse_double(arg, DBL_MIN, 1e7, "number of seconds", st);
		break;
	case 'i':
		env.interval = parse_double(arg, DBL_MIN, 1e7, "number of seconds", st);
		break;
	case OPT_JSON:
		env.json = arg;
		break;
	case OPT_CAPTURE:
		env.cap_fe = parse_long(arg, 64, DBLAT_CAP_MAX, "capture size", st);
		break;
	case OPT_RINGBUF:
		env.ringbuf_mb = parse_long(arg, 1, 1024, "ring buffer size", st);
		if (env.ringbuf_mb & (env.ringbuf_mb - 1))
			argp_error(st, "ring buffer size must be a power of 2: %s", arg);
		break;
	case OPT_WIDTH:
		env.width = parse_long(arg, 10, 100000, "width", st);
		break;
	case OPT_NICE:
		env.nice = parse_long(arg, -20, 19, "niceness", st);
		break;
	case OPT_SAMPLE:
		env.sample_pct = parse_long(arg, 1, 99, "sample percent (1..99)", st);
		break;
	case OPT_BUDGET:
		env.budget_pct = parse_double(arg, 0.1, 50, "budget percent (0.1..50)", st);
		env.budget_asked = true;
		break;
	case OPT_FULL:
		env.full = true;
		break;
	case 'v':
		env.verbose = true;
		break;
	case OPT_SERVER_STAGES:
		env.server_stages = true;
		break;
	case OPT_NO_TLS_PROBES:
		env.no_tls_probes = true;
		break;
	case OPT_TLS_PROBES:
		env.no_tls_probes = false;
		break;
	case 'o':
		if (env.mode != MODE_RECORD)
			argp_error(st, "-o goes with 'dblat record'");
		env.output = arg;
		break;
	case ARGP_KEY_ARG:
		if (env.mode != MODE_REPORT || env.input)
			argp_error(st, "unexpected argument: %s", arg);
		env.input = arg;
		break;
	case ARGP_KEY_END:
		if (env.mode == MODE_RECORD && !env.output)
			argp_error(st, "record needs -o FILE");
		if (env.mode == MODE_REPORT && !env.input)
			argp_error(st, "report needs a recording FILE");
		if (env.mode == MODE_REPORT && (env.npids || env.ncomms || env.duration || env.interval || env.server_stages ||
						env.sample_pct || env.budget_pct || env.full))
			argp_error(st, "report takes no tracing options");
		if (env.budget_pct && (env.sample_pct || env.full))
			argp_error(st, "--budget goes with neither --sample nor --full: pick one");
		if (env.sample_pct && env.full)
			argp_error(st, "--sample and --full do not go together: pick one");
		if (env.budget_pct && (env.server_stages || !env.no_tls_probes))
			argp_error(st, "--budget goes with neither --server-stages nor --tls-probes: they need every call");
		if (env.sample_pct && env.server_stages)
			argp_error(st, "--sample and --server-stages do not go together: a backend's stages "
				   "between windows would be credited to its next call seen");
		if (env.sample_pct && !env.no_tls_probes)
			argp_error(st, "--sample and --tls-probes do not go together: encrypted calls cannot be "
				   "sampled whole");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Nothing said: a budget, unless a mode that needs every call was asked for. */
static void choose_budget(void)
{
	if (env.mode == MODE_REPORT || env.budget_pct || env.sample_pct || env.full || env.server_stages ||
	    !env.no_tls_probes)
		return;
	env.budget_pct = DEFAULT_BUDGET_PCT;
}

static bool serves_http(void *col)
{
	return collector_serves_http(col);
}

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static void pace_reader(struct reader_pace *p, double backlog, uint64_t now)
{
	int nice = pace_step(p, backlog, now);

	if (nice != PACE_KEEP && setpriority(PRIO_PROCESS, 0, nice))
		pace_undo(p, now);
}

static void pace_counters(struct summary *sum, const struct reader_pace *p, uint64_t now)
{
	sum->ctr.reader_raised = p->times;
	sum->ctr.reader_raised_ns = pace_raised_ns(p, now);
}

struct run {
	struct collector *col;
	struct tracer *tr;
	struct recorder *rec;
	struct reader_pace pace;
	struct sampler smp;	/* --sample, --budget */
	struct budget budget;
};

/* Unix sockets carry no send timestamp of their own (see tcp_send_start in BPF). */
static bool unix_pg_conn(const void *data, size_t size)
{
	const struct dblat_event *ev = data;
	const struct dblat_conn_info *ci = (const void *)(ev + 1);

	return size >= sizeof(*ev) + sizeof(*ci) && ev->kind == DBLAT_EV_CONN &&
	       (ev->role == DBLAT_ROLE_CLIENT || ev->role == DBLAT_ROLE_SERVER) && ci->family == AF_UNIX;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct run *r = ctx;

	if (r->tr && unix_pg_conn(data, size))
		tracer_stamp_unix_sends(r->tr);
	if (r->rec)
		recorder_write(r->rec, data, size);
	collector_handle(r->col, data, size);
	return 0;
}

static void on_reject(void *ctx, uint32_t tgid, int32_t fd)
{
	struct run *r = ctx;

	if (r->tr)
		tracer_ignore_conn(r->tr, tgid, fd);
}

static int preflight(void)
{
	int i;

	if (geteuid() != 0) {
		fprintf(stderr, "dblat: must run as root (it loads BPF programs): try sudo\n");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "dblat: this kernel exposes no BTF (/sys/kernel/btf/vmlinux): a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed\n");
		return -1;
	}
	for (i = 0; i < env.npids; i++) {
		if (kill(env.pids[i], 0) && errno == ESRCH) {
			fprintf(stderr, "dblat: no process with pid %d\n", env.pids[i]);
			return -1;
		}
	}
	return 0;
}

static void take_counters(struct summary *sum, struct tracer *tr)
{
	uint64_t st[DBLAT_STAT_NR];

	tracer_stats(tr, st);
	sum->ctr.dropped = st[DBLAT_STAT_DROPS];
	sum->ctr.lost_sync = st[DBLAT_STAT_LOST_SYNC];
	sum->ctr.tail_overflow = st[DBLAT_STAT_TAIL_OVERFLOW];
}

static int write_reports(const struct summary *sum)
{
	int err = 0;

	report_text(stdout, sum, env.width);
	fflush(stdout);
	if (env.json && report_json(env.json, sum))
		err = 1;
	if (exports_write(sum))
		err = 1;
	return err;
}

static int report_main(void)
{
	struct summary *sum = summary_new();
	struct run run = {};
	int err = 1;

	run.col = sum ? collector_new(sum, NULL, NULL) : NULL;
	if (!run.col) {
		fprintf(stderr, "dblat: out of memory\n");
		goto out;
	}
	if (recording_replay(env.input, on_event, &run, sum))
		goto out;
	collector_finish(run.col, sum->end_ns);
	err = write_reports(sum) ? 1 : 0;
out:
	collector_free(run.col);
	summary_free(sum);
	return err;
}

int main(int argc, char **argv)
{
	static const struct argp_child children[] = {
		{ &exports_argp, 0, "Exports:", 0 },
		{},
	};
	static const struct argp argp = { opts, parse_arg, NULL, doc, children, NULL, NULL };
	struct tracer_opts to = {};
	struct summary *sum = NULL;
	struct run run = {};
	uint64_t start, now, next_ival = 0;
	double untraced_ns = 0, toll_ns = 0;
	bool windows;
	int err;

	argp_err_exit_status = 2;
	if (argc > 1 && !strcmp(argv[1], "diff"))
		return diff_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "record"))
		env.mode = MODE_RECORD;
	else if (argc > 1 && !strcmp(argv[1], "report"))
		env.mode = MODE_REPORT;
	if (env.mode != MODE_LIVE) {
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;
	if (env.mode == MODE_REPORT)
		return report_main();
	if (preflight())
		return 1;
	choose_budget();
	windows = env.sample_pct || env.budget_pct;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	sum = summary_new();
	run.col = sum ? collector_new(sum, on_reject, &run) : NULL;
	if (!run.col) {
		fprintf(stderr, "dblat: out of memory\n");
		err = 1;
		goto cleanup;
	}
	to.pids = env.pids;
	to.npids = env.npids;
	to.comms = env.comms;
	to.ncomms = env.ncomms;
	to.cap_fe = env.cap_fe;
	to.ringbuf_mb = env.ringbuf_mb;
	to.verbose = env.verbose;
	to.server_stages = env.server_stages;
	to.no_tls_probes = env.no_tls_probes;
	to.sampling = windows;
	to.windows_at_start = env.sample_pct != 0;
	to.self_timed = env.budget_pct != 0;
	if (env.budget_pct)
		untraced_ns = syscall_ns(STARTUP_TOLL_ROUNDS, false);
	run.tr = tracer_open(&to, on_event, &run);
	if (!run.tr) {
		err = 1;
		goto cleanup;
	}
	/*
	 * The run's clock starts with the hooks: what they trace from here is
	 * traced time (nothing is consumed before the first poll, so the
	 * recording misses no event). Started after the toll's timing below,
	 * its calls were counted against no time: a quarter second of them on
	 * a saturated host while that timing yielded after each round.
	 */
	sum->start_ns = mono_ns();
	if (env.budget_pct) {
		/* Back to back: dblat's own first moments, not a window's edge under a load. */
		toll_ns = syscall_ns(STARTUP_TOLL_ROUNDS, false) - untraced_ns;
		if (toll_ns < 0)
			toll_ns = 0;
		budget_init(&run.budget, env.budget_pct, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	}
	/* Loading wants the CPU now; consuming can wait for the traced load's idle moments. */
	if (setpriority(PRIO_PROCESS, 0, env.nice))
		fprintf(stderr, "dblat: cannot set niceness %d: %s\n", env.nice, strerror(errno));
	run.pace.nice = env.nice;
	if (env.mode == MODE_RECORD) {
		run.rec = recorder_open(env.output, sum->start_ns);
		if (!run.rec) {
			err = 1;
			goto cleanup;
		}
	}
	if (exports_start()) {
		err = 1;
		goto cleanup;
	}
	start = sum->start_ns;
	if (env.npids || env.ncomms)
		fprintf(stderr, "dblat: attached to %d pid(s) and %d name(s); Ctrl-C to stop\n",
			env.npids, env.ncomms);
	else
		fprintf(stderr, "dblat: attached to all processes; Ctrl-C to stop\n");
	if (env.interval)
		next_ival = start + (uint64_t)(env.interval * 1e9);
	if (windows) {
		sampler_start(&run.smp, run.tr, env.sample_pct, env.budget_pct ? &run.budget : NULL, toll_ns, start);
		run.smp.verbose = env.verbose;
		/* The default budget gives way to request binding; one asked for does not. */
		if (!env.budget_asked) {
			run.smp.hold = serves_http;
			run.smp.hold_ctx = run.col;
		}
	}

	while (!exiting) {
		int wait_ms = windows ? sampler_tick(&run.smp, mono_ns(), POLL_MS) : POLL_MS;

		err = tracer_poll(run.tr, wait_ms);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "dblat: reading events failed: %s\n", strerror(-err));
			err = 1;
			goto cleanup;
		}
		now = mono_ns();
		pace_reader(&run.pace, tracer_backlog(run.tr), now);
		pace_counters(sum, &run.pace, now);
		sum->duration_s = (now - start) / 1e9;
		exports_poll(sum);
		if (env.duration && now - start >= (uint64_t)(env.duration * 1e9))
			break;
		if (next_ival && now >= next_ival) {
			uint32_t i;

			sum->duration_s = (now - start) / 1e9;
			take_counters(sum, run.tr);
			report_live(stdout, sum, env.interval, collector_nconns(run.col));
			for (i = 0; i < sum->nstmts; i++)
				hist_reset(&sum->stmts[i]->ival);
			next_ival += (uint64_t)(env.interval * 1e9);
		}
	}
	if (windows)
		sampler_stop(&run.smp, mono_ns());
	tracer_drain(run.tr);
	now = mono_ns();
	pace_counters(sum, &run.pace, now);
	collector_finish(run.col, now);
	sum->end_ns = now;
	sum->duration_s = (now - start) / 1e9;
	take_counters(sum, run.tr);
	tracer_close(run.tr);
	run.tr = NULL;

	err = 0;
	if (run.rec) {
		err = recorder_close(run.rec, sum) ? 1 : 0;
		run.rec = NULL;
	}
	if (write_reports(sum))
		err = 1;
cleanup:
	exports_stop();
	if (run.rec)
		recorder_close(run.rec, sum);
	tracer_close(run.tr);
	collector_free(run.col);
	summary_free(sum);
	return err;
}
