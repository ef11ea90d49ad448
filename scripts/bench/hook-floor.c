// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The floor under any tracer built on a set of kernel tracepoints: attach a
 * BPF program that returns at once to each named raw tracepoint, and hold
 * them until SIGINT or SIGTERM. Whatever a workload loses with these
 * attached, no program on those hooks can avoid, however little it does.
 *
 * usage: scripts/bench/hook-floor TRACEPOINT...
 *   e.g. hook-floor sys_enter sys_exit                  (syscall tracepoints)
 *        hook-floor sock_send_length sock_recv_length   (socket tracepoints)
 *
 * Prints "attached N" on stdout once every hook is in place; a missing
 * tracepoint or a refused load is an error (exit status 1).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int prog, i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s TRACEPOINT...\n", argv[0]);
		return 2;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "hook_floor", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
	if (prog < 0) {
		fprintf(stderr, "hook-floor: cannot load the empty program: %s\n", strerror(errno));
		return 1;
	}
	for (i = 1; i < argc; i++)
		if (bpf_raw_tracepoint_open(argv[i], prog) < 0) {
			fprintf(stderr, "hook-floor: cannot attach to %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached %d\n", argc - 1);
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
