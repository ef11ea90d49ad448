// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TLS plaintext probes: attach bpf/tls.bpf.c to OpenSSL's libssl.
 *
 * The libraries are found where the targeted processes have them mapped
 * (/proc/PID/maps, reached through /proc/PID/root so a container's copy
 * counts), plus the system's own copy for processes that start later. Each
 * file is attached once (by device and inode) with pid -1: a uprobe lives
 * on the file, so every process using it is covered, backends forked later
 * included. The BPF side copies only from processes that have an encrypted
 * PostgreSQL connection.
 */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tls_probes.h"
#include "tls.skel.h"

#define MAX_LIBS 16

static const char *const system_libs[] = {
	"/usr/lib/x86_64-linux-gnu/libssl.so.3",
	"/usr/lib/aarch64-linux-gnu/libssl.so.3",
	"/usr/lib64/libssl.so.3",
	"/usr/lib/libssl.so.3",
	"/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
	"/usr/lib64/libssl.so.1.1",
};

/* Each has its own entry program; the return program is shared. */
static const char *const funcs[] = { "SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex" };
#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

struct lib {
	char path[4200];
	dev_t dev;
	ino_t ino;
};

struct tls_probes {
	struct tls_bpf *skel;
	struct bpf_link **links;
	int nlinks;
};

static bool lib_add(struct lib *libs, int *n, const char *path)
{
	struct stat st;
	int i;

	if (*n >= MAX_LIBS || stat(path, &st) || !S_ISREG(st.st_mode))
		return false;
	for (i = 0; i < *n; i++)
		if (libs[i].dev == st.st_dev && libs[i].ino == st.st_ino)
			return false;
	snprintf(libs[*n].path, sizeof(libs[*n].path), "%s", path);
	libs[*n].dev = st.st_dev;
	libs[*n].ino = st.st_ino;
	(*n)++;
	return true;
}

/* "libssl.so" followed by nothing or a version. */
static bool is_libssl(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	return !strncmp(b, "libssl.so", 9) && (!b[9] || b[9] == '.');
}

static void libs_of(pid_t pid, struct lib *libs, int *n)
{
	char path[64], line[4400];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), full[4200];

		if (!p)
			continue;
		p[strcspn(p, "\n")] = 0;
		if (!is_libssl(p) || strstr(p, " (deleted)"))
			continue;
		/* The process's view of its files: a container's library is not the host's. */
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, p);
		lib_add(libs, n, full);
	}
	fclose(f);
}

static int find_libs(struct bpf_object *wire, const struct tracer_opts *o, struct lib *libs)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	size_t i;

	for (i = 0; i < sizeof(system_libs) / sizeof(system_libs[0]); i++)
		lib_add(libs, &n, system_libs[i]);
	if (!d)
		return n;
	while ((de = readdir(d)) && n < MAX_LIBS) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 0 || pid == getpid() || !tracer_targeted(wire, o, pid))
			continue;
		libs_of(pid, libs, &n);
	}
	closedir(d);
	return n;
}

static int reuse(struct bpf_map *m, struct bpf_object *wire, const char *name)
{
	struct bpf_map *w = bpf_object__find_map_by_name(wire, name);

	return w ? bpf_map__reuse_fd(m, bpf_map__fd(w)) : -ENOENT;
}

static bool attach(struct tls_probes *tp, struct bpf_program *prog, const char *path,
		   const char *func, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func, .retprobe = ret);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, -1, path, 0, &uo);

	if (!l)
		return false;
	tp->links[tp->nlinks++] = l;
	return true;
}

struct tls_probes *tls_probes_attach(struct bpf_object *wire, const struct tracer_opts *o,
				     uint64_t wakeup_bytes)
{
	struct lib *libs = calloc(MAX_LIBS, sizeof(*libs));
	struct tls_probes *tp = calloc(1, sizeof(*tp));
	int nl, i, err, nfailed = 0;
	size_t f;

	if (!libs || !tp)
		goto fail;
	nl = find_libs(wire, o, libs);
	if (!nl) {
		fprintf(stderr, "dblat: no libssl found: encrypted connections are timed only (no statement text)\n");
		goto fail;
	}
	tp->skel = tls_bpf__open();
	if (!tp->skel) {
		fprintf(stderr, "dblat: TLS probes: cannot open the BPF object: %s\n", strerror(errno));
		goto fail;
	}
	tp->skel->rodata->wakeup_bytes = wakeup_bytes;
	if ((err = reuse(tp->skel->maps.events, wire, "events")) ||
	    (err = reuse(tp->skel->maps.stats, wire, "stats")) ||
	    (err = reuse(tp->skel->maps.targets, wire, "targets")) ||
	    (err = reuse(tp->skel->maps.target_cache, wire, "target_cache")) ||
	    (err = reuse(tp->skel->maps.target_comms, wire, "target_comms")) ||
	    (err = reuse(tp->skel->maps.tls_procs, wire, "tls_procs"))) {
		fprintf(stderr, "dblat: TLS probes: cannot share the wire maps: %s\n", strerror(-err));
		goto fail;
	}
	err = tls_bpf__load(tp->skel);
	if (err) {
		fprintf(stderr, "dblat: TLS probes: cannot load the BPF programs (%s); run with -v for the verifier log\n",
			strerror(-err));
		goto fail;
	}
	tp->links = calloc(2 * NFUNCS * nl, sizeof(*tp->links));
	if (!tp->links)
		goto fail;
	for (i = 0; i < nl; i++) {
		struct bpf_program *entry[NFUNCS] = {
			tp->skel->progs.dbl_ssl_write, tp->skel->progs.dbl_ssl_write_ex,
			tp->skel->progs.dbl_ssl_read, tp->skel->progs.dbl_ssl_read_ex,
		};
		int ok = 0;

		for (f = 0; f < NFUNCS; f++) {
			int before = tp->nlinks;

			/* Both or neither: an entry without its return leaks nothing but copies nothing. */
			if (attach(tp, entry[f], libs[i].path, funcs[f], false) &&
			    attach(tp, tp->skel->progs.dbl_ssl_ret, libs[i].path, funcs[f], true)) {
				ok++;
				continue;
			}
			while (tp->nlinks > before)
				bpf_link__destroy(tp->links[--tp->nlinks]);
		}
		if (ok)
			fprintf(stderr, "dblat: TLS plaintext from %d functions of %s (two traps per call, in every process using it; --no-tls-probes turns them off)\n",
				ok, libs[i].path);
		else
			nfailed++;
	}
	if (!tp->nlinks) {
		fprintf(stderr, "dblat: cannot attach to SSL_read/SSL_write of %d libssl: encrypted connections are timed only\n",
			nfailed);
		goto fail;
	}
	free(libs);
	return tp;
fail:
	free(libs);
	tls_probes_destroy(tp);
	return NULL;
}

void tls_probes_destroy(struct tls_probes *tp)
{
	int i;

	if (!tp)
		return;
	for (i = 0; i < tp->nlinks; i++)
		bpf_link__destroy(tp->links[i]);
	free(tp->links);
	tls_bpf__destroy(tp->skel);
	free(tp);
}
