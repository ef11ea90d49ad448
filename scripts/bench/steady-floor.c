// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Loads steady-floor.bpf.c for processes named COMM... (the first bytes of
 * their names; SERVER_COMM is the one that reads the frontend stream) and
 * holds it until SIGINT or SIGTERM, then prints what it timed, so a run
 * can be checked against the workload's own transaction count:
 *   @calls_client: N
 *   @calls_server: N
 *   calls client N server N errors N rows N mean_us client X server Y
 *
 * usage: scripts/bench/steady-floor SERVER_COMM COMM
 *   e.g. steady-floor postgres pgbench
 *
 * Prints "attached" on stdout once both programs are in place.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include "steady-floor.h"
#include "steady-floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static __u64 comm8(const char *s)
{
	size_t n = strlen(s);
	__u64 v = 0;

	memcpy(&v, s, n < sizeof(v) ? n : sizeof(v));
	return v;
}

int main(int argc, char **argv)
{
	struct steady_floor_bpf *skel;
	struct tally t[2] = {};
	int ncpu, end, cpu, err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SERVER_COMM COMM\n", argv[0]);
		return 2;
	}
	skel = steady_floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "steady-floor: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->server_comm = comm8(argv[1]);
	skel->rodata->client_comm = comm8(argv[2]);
	if ((err = steady_floor_bpf__load(skel)) || (err = steady_floor_bpf__attach(skel))) {
		fprintf(stderr, "steady-floor: cannot load or attach: %s\n", strerror(-err));
		steady_floor_bpf__destroy(skel);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		pause();

	ncpu = libbpf_num_possible_cpus();
	for (end = 0; end < 2 && ncpu > 0; end++) {
		struct tally per[ncpu];
		__u32 key = end;

		if (bpf_map__lookup_elem(skel->maps.tallies, &key, sizeof(key), per, sizeof(per), 0))
			continue;
		for (cpu = 0; cpu < ncpu; cpu++) {
			t[end].calls += per[cpu].calls;
			t[end].errors += per[cpu].errors;
			t[end].rows += per[cpu].rows;
			t[end].ns += per[cpu].ns;
		}
	}
	printf("@calls_client: %llu\n@calls_server: %llu\n", (unsigned long long)t[0].calls,
	       (unsigned long long)t[1].calls);
	printf("calls client %llu server %llu errors %llu rows %llu mean_us client %.1f server %.1f\n",
	       (unsigned long long)t[0].calls, (unsigned long long)t[1].calls,
	       (unsigned long long)(t[0].errors + t[1].errors), (unsigned long long)(t[0].rows + t[1].rows),
	       t[0].calls ? t[0].ns / 1e3 / t[0].calls : 0.0, t[1].calls ? t[1].ns / 1e3 / t[1].calls : 0.0);
	steady_floor_bpf__destroy(skel);
	return 0;
}
