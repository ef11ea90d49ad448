// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * --server-stages: attach bpf/stages.bpf.c to PostgreSQL's USDT probes.
 *
 * Probes are attached by binary with pid -1, so every process of that
 * binary is covered, backends forked later included; the BPF side keeps
 * only the processes dblat targets. Its events go to the wire object's ring
 * buffer and its counters to the wire object's stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pgserver.h"
#include "stage_probes.h"
#include "stages.skel.h"

#define MAX_BINARIES 8

static const struct {
	const char *usdt;	/* provider postgresql */
	const char *prog;
	bool args;		/* the program reads the probe's arguments */
} probes[] = {
	{ "query__parse__start", "dbl_parse_start", false },
	{ "query__parse__done", "dbl_parse_done", false },
	{ "query__plan__start", "dbl_plan_start", false },
	{ "query__plan__done", "dbl_plan_done", false },
	{ "query__execute__start", "dbl_execute_start", false },
	{ "query__execute__done", "dbl_execute_done", false },
	{ "transaction__abort", "dbl_xact_abort", false },
	{ "lock__wait__start", "dbl_lock_wait_start", true },
	{ "lock__wait__done", "dbl_lock_wait_done", false },
	{ "deadlock__found", "dbl_deadlock", false },
	{ "lwlock__wait__start", "dbl_lwlock_wait_start", false },
	{ "lwlock__wait__done", "dbl_lwlock_wait_done", true },
	{ "smgr__md__read__start", "dbl_read_start", true },
	{ "smgr__md__read__done", "dbl_read_done", false },
	{ "checkpoint__start", "dbl_checkpoint_start", false },
	{ "checkpoint__done", "dbl_checkpoint_done", false },
	{ "wal__insert", "dbl_wal_insert", false },
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

#define MAX_SITES 8

/* Where a probe sits in the file: its instruction and its semaphore. */
struct site {
	uint64_t off, sema_off;
};

struct binary {
	char path[4096];
	dev_t dev;
	ino_t ino;
	bool has[NPROBES];
	struct site sites[NPROBES][MAX_SITES];
	int nsites[NPROBES];
};

struct stage_probes {
	struct stages_bpf *skel;
	struct bpf_link **links;
	int nlinks;
};

/* A virtual address of the binary as a file offset (what uprobes take). */
static uint64_t file_off(Elf *e, uint64_t addr)
{
	size_t n, i;
	GElf_Phdr ph;

	if (!addr || elf_getphdrnum(e, &n))
		return 0;
	for (i = 0; i < n; i++)
		if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && addr >= ph.p_vaddr &&
		    addr < ph.p_vaddr + ph.p_filesz)
			return addr - ph.p_vaddr + ph.p_offset;
	return 0;
}

static void parse_notes(struct binary *b, Elf *e, Elf_Data *d, uint64_t base_addr, int *found)
{
	size_t asz = gelf_getclass(e) == ELFCLASS32 ? 4 : 8;
	size_t off = 0, noff, name_off, desc_off, i;
	GElf_Nhdr nh;

	while ((noff = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		/* desc: pc, base, semaphore (3 addresses), then provider\0name\0args\0 */
		const char *desc = (const char *)d->d_buf + desc_off, *end = desc + nh.n_descsz;
		const char *prov, *probe;
		uint64_t a[3] = {};

		off = noff;
		if (nh.n_type != 3 || nh.n_descsz <= 3 * asz ||
		    strncmp((const char *)d->d_buf + name_off, "stapsdt", nh.n_namesz))
			continue;
		for (i = 0; i < 3; i++) {
			if (asz == 8) {
				memcpy(&a[i], desc + i * 8, 8);
			} else {
				uint32_t v;

				memcpy(&v, desc + i * 4, 4);
				a[i] = v;
			}
		}
		prov = desc + 3 * asz;
		if (!memchr(prov, 0, end - prov))
			continue;
		probe = prov + strlen(prov) + 1;
		if (probe >= end || !memchr(probe, 0, end - probe) || strcmp(prov, "postgresql"))
			continue;
		/* Prelinked binaries move .stapsdt.base; the note records where it was. */
		if (a[1] && base_addr) {
			a[0] += base_addr - a[1];
			if (a[2])
				a[2] += base_addr - a[1];
		}
		for (i = 0; i < NPROBES; i++) {
			if (strcmp(probe, probes[i].usdt))
				continue;
			if (!b->has[i])
				(*found)++;
			b->has[i] = true;
			if (b->nsites[i] < MAX_SITES) {
				b->sites[i][b->nsites[i]].off = file_off(e, a[0]);
				b->sites[i][b->nsites[i]].sema_off = file_off(e, a[2]);
				b->nsites[i]++;
			}
		}
	}
}

/* Which of our probes the binary's .note.stapsdt declares; -1: no such section. */
static int read_notes(struct binary *b)
{
	Elf_Scn *scn = NULL;
	Elf_Data *notes = NULL;
	uint64_t base_addr = 0;
	size_t shstrndx;
	int fd, found = -1;
	Elf *e;

	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getshdrstrndx(e, &shstrndx))
		goto out;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *nm;

		if (!gelf_getshdr(scn, &sh))
			continue;
		nm = elf_strptr(e, shstrndx, sh.sh_name);
		if (!nm)
			continue;
		if (!strcmp(nm, ".stapsdt.base"))
			base_addr = sh.sh_addr;
		else if (sh.sh_type == SHT_NOTE && !strcmp(nm, ".note.stapsdt"))
			notes = elf_getdata(scn, NULL);
	}
	if (notes) {
		found = 0;
		parse_notes(b, e, notes, base_addr, &found);
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return found;
}

/* The executables of the targeted postmasters, each once. */
static int find_binaries(struct bpf_object *wire, const struct tracer_opts *o, struct binary *out, int max)
{
	pid_t pms[64];
	int n = pgserver_postmasters(pms, 64), nb = 0, i, j;

	for (i = 0; i < n && nb < max; i++) {
		struct binary *b = &out[nb];
		char link[64];
		struct stat st;
		ssize_t len;

		if (!tracer_targeted(wire, o, pms[i]))
			continue;
		snprintf(link, sizeof(link), "/proc/%d/exe", pms[i]);
		if (stat(link, &st))
			continue;
		for (j = 0; j < nb; j++)
			if (out[j].dev == st.st_dev && out[j].ino == st.st_ino)
				break;
		if (j < nb)
			continue;
		memset(b, 0, sizeof(*b));
		b->dev = st.st_dev;
		b->ino = st.st_ino;
		len = readlink(link, b->path, sizeof(b->path) - 1);
		if (len <= 0)
			continue;
		b->path[len] = 0;
		/* Replaced on disk since it started (a package upgrade): go through /proc. */
		if (access(b->path, R_OK))
			snprintf(b->path, sizeof(b->path), "%s", link);
		nb++;
	}
	return nb;
}

/*
 * A program that reads no argument sits on the probe's sites as a plain
 * uprobe, holding the probe's semaphore as USDT would. libbpf's USDT attach
 * parses every argument spec even when none is read, and rejects some of
 * PostgreSQL's (checkpoint__done's are %rip-relative).
 */
static bool attach_sites(struct stage_probes *sp, struct bpf_program *prog, const struct binary *b, size_t p)
{
	bool any = false;
	int s;

	for (s = 0; s < b->nsites[p]; s++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .ref_ctr_offset = b->sites[p][s].sema_off);
		struct bpf_link *l;

		if (!b->sites[p][s].off)
			continue;
		l = bpf_program__attach_uprobe_opts(prog, -1, b->path, b->sites[p][s].off, &uo);
		if (!l)
			continue;
		sp->links[sp->nlinks++] = l;
		any = true;
	}
	return any;
}

static int reuse(struct bpf_map *m, struct bpf_object *wire, const char *name)
{
	struct bpf_map *w = bpf_object__find_map_by_name(wire, name);

	return w ? bpf_map__reuse_fd(m, bpf_map__fd(w)) : -ENOENT;
}

struct stage_probes *stage_probes_attach(struct bpf_object *wire, const struct tracer_opts *o,
					 uint64_t wakeup_bytes)
{
	struct binary *bins = calloc(MAX_BINARIES, sizeof(*bins));
	struct stage_probes *sp = calloc(1, sizeof(*sp));
	int nb, i, usable = 0, err;
	size_t p;

	if (!bins || !sp)
		goto fail;
	nb = find_binaries(wire, o, bins, MAX_BINARIES);
	if (!nb) {
		fprintf(stderr, "dblat: --server-stages: no traced PostgreSQL server is running: no server stages\n");
		goto fail;
	}
	for (i = 0; i < nb; i++) {
		int n = read_notes(&bins[i]);

		if (n <= 0)
			fprintf(stderr, "dblat: --server-stages: %s has no PostgreSQL USDT probes (built without --enable-dtrace): no server stages for it\n",
				bins[i].path);
		else
			usable++;
	}
	if (!usable)
		goto fail;

	sp->skel = stages_bpf__open();
	if (!sp->skel) {
		fprintf(stderr, "dblat: --server-stages: cannot open the BPF object: %s\n", strerror(errno));
		goto fail;
	}
	sp->skel->rodata->filter_targets = o->npids > 0 || o->ncomms > 0;
	sp->skel->rodata->wakeup_bytes = wakeup_bytes;
	if ((err = reuse(sp->skel->maps.events, wire, "events")) ||
	    (err = reuse(sp->skel->maps.stats, wire, "stats")) ||
	    (err = reuse(sp->skel->maps.targets, wire, "targets")) ||
	    (err = reuse(sp->skel->maps.target_cache, wire, "target_cache")) ||
	    (err = reuse(sp->skel->maps.target_comms, wire, "target_comms"))) {
		fprintf(stderr, "dblat: --server-stages: cannot share the wire maps: %s\n", strerror(-err));
		goto fail;
	}
	err = stages_bpf__load(sp->skel);
	if (err) {
		fprintf(stderr, "dblat: --server-stages: cannot load the BPF programs (%s); run with -v for the verifier log\n",
			strerror(-err));
		goto fail;
	}
	sp->links = calloc(NPROBES * MAX_SITES * nb + 1, sizeof(*sp->links));
	if (!sp->links)
		goto fail;
	for (i = 0; i < nb; i++) {
		int attached = 0, failed = 0;

		for (p = 0; p < NPROBES; p++) {
			struct bpf_program *prog = bpf_object__find_program_by_name(sp->skel->obj, probes[p].prog);
			struct bpf_link *l = NULL;
			bool ok;

			if (!bins[i].has[p] || !prog)
				continue;
			if (probes[p].args) {
				l = bpf_program__attach_usdt(prog, -1, bins[i].path, "postgresql", probes[p].usdt, NULL);
				if (l)
					sp->links[sp->nlinks++] = l;
				ok = l != NULL;
			} else {
				ok = attach_sites(sp, prog, &bins[i], p);
			}
			if (ok) {
				attached++;
				continue;
			}
			if (!failed++)
				fprintf(stderr, "dblat: --server-stages: cannot attach to %s:%s: %s\n",
					bins[i].path, probes[p].usdt, strerror(errno));
		}
		if (attached)
			fprintf(stderr, "dblat: server stages from %d USDT probes of %s (a trap per hit)\n",
				attached, bins[i].path);
	}
	free(bins);
	if (sp->nlinks) {
		struct bpf_link *l = bpf_program__attach(sp->skel->progs.dbl_stages_exit);

		/* Without it only the WAL records inserted before a process's last stage are counted. */
		if (l)
			sp->links[sp->nlinks++] = l;
	}
	if (!sp->nlinks) {
		stage_probes_destroy(sp);
		return NULL;
	}
	return sp;
fail:
	free(bins);
	stage_probes_destroy(sp);
	return NULL;
}

void stage_probes_destroy(struct stage_probes *sp)
{
	int i;

	if (!sp)
		return;
	for (i = 0; i < sp->nlinks; i++)
		bpf_link__destroy(sp->links[i]);
	free(sp->links);
	stages_bpf__destroy(sp->skel);
	free(sp);
}
